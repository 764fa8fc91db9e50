"""``harbor`` and ``ecr`` uploaders, and moving between them with one config line.

Harbor: the push goes to a real docker-registry (TLS + htpasswd; Harbor's push path is this same
distribution API); the Harbor REST API v2.0 is served by ``tests/plugins/upload/services.py``'s
``HarborApi``, a small local server that implements exactly the endpoints the uploader calls
(projects, robots, artifact scan and ``scan_overview``) with the shapes Harbor documents. It is
a stand-in for the API, not for the code under test.

ECR: the ECR API is a real moto server (``GetAuthorizationToken``, ``CreateRepository``,
``DescribeRepositories``, ``DescribeImages``, ``PutImage``); moto does not implement layer
upload, so the push goes to the local registry (``registry_override``) with exactly the
credentials moto's token decodes to (the registry's htpasswd has that user).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.harness import skopeo
from tests.harness.moto_server import Moto
from tests.plugins.upload.conftest import (
    ECR_PASSWORD,
    ROBOT,
    RunFn,
    UsersRegistry,
    artifacts,
    assert_not_leaked,
    env_ref,
    git,
    registry_env,
    registry_table,
    set_tables,
    unique_repo,
)
from tests.plugins.upload.services import HarborApi, start_harbor_api

pytestmark = pytest.mark.slow

PACKAGE = {"providers": ["oci-image"]}


@pytest.fixture
def harbor(users_registry: UsersRegistry) -> Iterator[HarborApi]:
    api = HarborApi(
        username="gopipe", password=users_registry.users["gopipe"], robot=(ROBOT, users_registry.users[ROBOT])
    )
    with start_harbor_api(api) as running:
        yield running


@pytest.fixture
def env(users_registry: UsersRegistry, moto: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    """Registry location/credentials for harbor and the AWS environment for ecr, as CI has."""
    for key, value in {**registry_env(users_registry.registry), **moto.env()}.items():
        monkeypatch.setenv(key, value)


def upload_tables(
    providers: list[str],
    repository: str,
    harbor_api: str,
    harbor: dict[str, Any] | None = None,
    ecr: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One config holding both providers' tables, with the shared option names."""
    return {
        "providers": providers,
        "harbor": {
            **registry_table(),
            "api_url": harbor_api,
            "repository": repository,
            "scan_interval": 0.05,
            **(harbor or {}),
        },
        "ecr": {
            "endpoint_url": env_ref("AWS_ENDPOINT_URL"),
            "registry_override": env_ref("REG_HOST"),
            "ca_file": env_ref("REG_CA"),
            "repository": repository,
            **(ecr or {}),
        },
    }


def test_harbor_project_robot_and_scan_gate_pass(
    cd_repo: Path,
    env: None,
    harbor: HarborApi,
    users_registry: UsersRegistry,
    gopipe_run: RunFn,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = unique_repo("hb").replace("/{name}", "/team/{name}")  # Harbor repo with a "/" in it
    project = repo.split("/")[0]
    harbor.severity, harbor.summary = "Medium", {"Medium": 2, "Low": 1}
    set_tables(
        cd_repo,
        PACKAGE,
        upload_tables(
            ["harbor"],
            repo,
            harbor.url,
            harbor={"robot_account": True, "scan": True, "fail_on_severity": "high"},
        ),
    )
    result = gopipe_run(cd_repo, "upload")
    out = capsys.readouterr().out
    assert result.exit_code == 0, out

    assert harbor.projects[project]["metadata"] == {"public": "false"}
    [robot] = harbor.robots.values()
    assert robot["level"] == "project"
    assert robot["permissions"][0]["namespace"] == project
    assert harbor.deleted_robots == [1]  # temporary robot removed after the push
    [ref] = artifacts(result, "image-ref")
    digest = ref["extra"]["digest"]
    assert ref["extra"]["scan_severity"] == "Medium"
    assert ref["extra"]["reference"] == f"{users_registry.host}/{project}/team/hello@{digest}"
    scan_calls = [c for c in harbor.calls if c[1].endswith("/scan")]
    assert scan_calls == [
        ("POST", f"/api/v2.0/projects/{project}/repositories/team%252Fhello/artifacts/{digest}/scan")
    ]
    # the data path used the robot account, not the configured user
    log = (users_registry.registry.root.parent / "registry.log").read_text()
    assert f'auth.user.name="{ROBOT}"' in log or f"auth.user.name={ROBOT}" in log
    reg = users_registry.as_user("gopipe")
    assert skopeo.digest(skopeo.ref(reg, f"{project}/team/hello", "1.2.3"), reg) == digest
    assert_not_leaked(cd_repo, out, users_registry.users["gopipe"], users_registry.users[ROBOT])


def test_harbor_scan_gate_fails_at_configured_severity(
    cd_repo: Path,
    env: None,
    harbor: HarborApi,
    gopipe_run: RunFn,
    capsys: pytest.CaptureFixture[str],
) -> None:
    harbor.severity, harbor.summary = "Critical", {"Critical": 1, "High": 3}
    set_tables(
        cd_repo,
        PACKAGE,
        upload_tables(
            ["harbor"], unique_repo("gate"), harbor.url, harbor={"scan": True, "fail_on_severity": "high"}
        ),
    )
    result = gopipe_run(cd_repo, "upload")
    out = capsys.readouterr().out
    assert result.exit_code == 1
    error = result.stage("upload")["error"]
    assert "found Critical vulnerabilities" in error and "fail_on_severity = high" in error, error
    assert artifacts(result, "image-ref") == []  # deploy cannot pick up a gated image
    assert "Critical: 1" in out


def test_switching_harbor_and_ecr_is_one_line(
    cd_repo: Path,
    env: None,
    harbor: HarborApi,
    moto: Moto,
    users_registry: UsersRegistry,
    gopipe_run: RunFn,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = unique_repo("switch")
    set_tables(cd_repo, PACKAGE, upload_tables(["harbor"], repo, harbor.url))
    first = gopipe_run(cd_repo, "upload")
    out1 = capsys.readouterr().out
    assert first.exit_code == 0, out1
    [to_harbor] = artifacts(first, "image-ref")

    pyproject = cd_repo / "pyproject.toml"
    before = pyproject.read_text().splitlines()
    pyproject.write_text(pyproject.read_text().replace('providers = ["harbor"]', 'providers = ["ecr"]'))
    after = pyproject.read_text().splitlines()
    assert [(a, b) for a, b in zip(before, after, strict=True) if a != b] == [
        ('providers = ["harbor"]', 'providers = ["ecr"]')
    ]
    git(cd_repo, "commit", "-q", "-am", "move to ECR")  # a clean tree, as CI builds it

    second = gopipe_run(cd_repo, "upload")
    out2 = capsys.readouterr().out
    assert second.exit_code == 0, out2
    [to_ecr] = artifacts(second, "image-ref")
    assert to_ecr["provider"] == "ecr" and to_harbor["provider"] == "harbor"
    # both tables point at the same local registry here, so the images land side by side
    assert to_ecr["extra"]["repository"] == to_harbor["extra"]["repository"]
    assert to_ecr["extra"]["reference"] == f"{to_ecr['extra']['repository']}@{to_ecr['extra']['digest']}"
    assert to_ecr["extra"]["skipped"] >= 1  # the static base layer was already there
    repo_name = repo.replace("{name}", "hello")
    described = moto.client("ecr").describe_repositories(repositoryNames=[repo_name])
    assert described["repositories"][0]["imageTagMutability"] == "MUTABLE"
    assert_not_leaked(cd_repo, out2, ECR_PASSWORD, base64.b64encode(f"AWS:{ECR_PASSWORD}".encode()).decode())


def test_ecr_creates_immutable_repository_and_reruns(
    cd_repo: Path,
    env: None,
    moto: Moto,
    users_registry: UsersRegistry,
    gopipe_run: RunFn,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = unique_repo("ecr")
    set_tables(
        cd_repo,
        PACKAGE,
        upload_tables(
            ["ecr"], repo, "http://unused", ecr={"image_tag_mutability": "IMMUTABLE", "scan_on_push": True}
        ),
    )
    first = gopipe_run(cd_repo, "upload")
    out = capsys.readouterr().out
    assert first.exit_code == 0, out
    repo_name = repo.replace("{name}", "hello")
    [described] = moto.client("ecr").describe_repositories(repositoryNames=[repo_name])["repositories"]
    assert described["imageTagMutability"] == "IMMUTABLE"
    assert described["imageScanningConfiguration"] == {"scanOnPush": True}
    [ref] = artifacts(first, "image-ref")
    assert "latest" not in ref["extra"]["tags"]  # would fail on the next commit
    assert ref["extra"]["tag_mutability"] == "IMMUTABLE"
    token = base64.b64encode(f"AWS:{ECR_PASSWORD}".encode()).decode()
    assert_not_leaked(cd_repo, out, ECR_PASSWORD, token)

    again = gopipe_run(cd_repo, "upload")  # same commit, same tags: no ImageTagAlreadyExists
    capsys.readouterr()
    assert again.exit_code == 0
    assert artifacts(again, "image-ref")[0]["extra"]["uploaded"] == 0


def test_ecr_immutable_tag_taken_fails_clearly(
    cd_repo: Path,
    env: None,
    moto: Moto,
    gopipe_run: RunFn,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = unique_repo("taken")
    repo_name = repo.replace("{name}", "hello")
    ecr = moto.client("ecr")
    ecr.create_repository(repositoryName=repo_name, imageTagMutability="IMMUTABLE")
    other = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": 2,
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        },
        "layers": [],
    }
    ecr.put_image(repositoryName=repo_name, imageManifest=json.dumps(other), imageTag="1.2.3")
    set_tables(cd_repo, PACKAGE, upload_tables(["ecr"], repo, "http://unused"))
    result = gopipe_run(cd_repo, "upload")
    capsys.readouterr()
    assert result.exit_code == 1
    error = result.stage("upload")["error"]
    assert f"ECR repository {repo_name} is IMMUTABLE and tag 1.2.3 already names" in error, error
    assert "ImageTagAlreadyExistsException" in error
    assert artifacts(result, "image-ref") == []
