"""End to end: ``gopipe run release`` on a tagged fixture with two binaries, against the local
GitHub REST server (tests/harness/github_api.py; its docstring lists the endpoints and their
documented answers, including 422 ``already_exists`` and the secondary rate-limit headers).

The run builds both binaries for two targets, packages images, archives, checksums, SBOMs and
deb/rpm packages, pushes the images and the Helm chart (with alpha's digest) to the real local
registry, writes the changelog and publishes the release with every asset; ``helm pull`` gets
the chart back and renders it; a second run of the same tag uploads nothing new to the release;
``--snapshot`` on a later commit publishes nothing.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.harness.github_api import FakeGitHub, fake_github
from tests.harness.k8s import ensure_binaries
from tests.harness.registry import Registry

from gopipe.testing import RunResult, make_git_repo

pytestmark = pytest.mark.slow

TOKEN = "ghp_" + "e2eR" * 9
GIT_ENV = {
    "GIT_AUTHOR_NAME": "gopipe",
    "GIT_AUTHOR_EMAIL": "ci@example.com",
    "GIT_COMMITTER_NAME": "gopipe",
    "GIT_COMMITTER_EMAIL": "ci@example.com",
}
MAIN = (
    'package main\n\nimport "fmt"\n\nvar version = "dev"\n\n'
    'func main() {{ fmt.Println("{name}", version) }}\n'
)
CONFIG = """[tool.gopipe]
main = ["./cmd/alpha", "./cmd/beta"]
targets = ["linux/amd64", "linux/arm64"]

[tool.gopipe.package]
providers = ["oci-image", "archive", "nfpm"]

[tool.gopipe.package.nfpm]
formats = ["deb", "rpm"]
name = "duo"
maintainer = "Duo Maintainers <ci@example.com>"
description = "two binaries"

[tool.gopipe.upload]
providers = ["registry", "helm-chart"]

[tool.gopipe.upload.registry]
registry = {{ env = "E2E_REG" }}
insecure = true

[tool.gopipe.upload.helm-chart]
registry = {{ env = "E2E_REG" }}
insecure = true
image = "alpha"
image_repository = "{registry}/duo/{{name}}"

[tool.gopipe.publish]
providers = ["github"]

[tool.gopipe.publish.changelog]
exclude = ["^chore"]

[tool.gopipe.publish.github]
owner = "acme"
repo = "duo"
api_url = "{api_url}"
token = {{ env = "GH_E2E_TOKEN" }}
retry = {{ base_delay = 0.01, max_delay = 0.1 }}
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, env={**os.environ, **GIT_ENV}, capture_output=True)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> FakeGitHub:  # type: ignore[misc]
    monkeypatch.setenv("GH_E2E_TOKEN", TOKEN)
    with fake_github("acme", "duo", TOKEN) as fake:
        yield fake


CHART = {
    "Chart.yaml": "apiVersion: v2\nname: duo\nversion: 0.0.0\nappVersion: dev\n",
    "values.yaml": 'image:\n  repository: duo\n  digest: ""\n',
    "templates/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: duo\nspec:\n  containers:\n"
    '    - name: alpha\n      image: "{{ .Values.image.repository }}@{{ .Values.image.digest }}"\n',
}


@pytest.fixture
def duo(
    tmp_path: Path, server: FakeGitHub, plain_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.setenv("E2E_REG", plain_registry.host)
    repo = tmp_path / "duo"
    for rel, text in CHART.items():
        (repo / "deploy" / "chart" / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / "deploy" / "chart" / rel).write_text(text)
    for name in ("alpha", "beta"):
        (repo / "cmd" / name).mkdir(parents=True)
        (repo / "cmd" / name / "main.go").write_text(MAIN.format(name=name))
    (repo / "go.mod").write_text("module example.com/duo\n\ngo 1.24\n")
    (repo / "pyproject.toml").write_text(CONFIG.format(api_url=server.api_url, registry=plain_registry.host))
    make_git_repo(repo)
    git(repo, "tag", "v1.0.0")
    for message in ("feat(alpha): say hello (#3)", "fix(beta): exit code", "chore: tidy", "feat!: new flags"):
        git(repo, "commit", "-q", "--allow-empty", "-m", message)
    git(repo, "tag", "-a", "v1.1.0", "-m", "v1.1.0")
    return repo


def assets_of(result: RunResult) -> set[str]:
    kinds = {"archive", "checksums", "sbom", "package", "helm-chart"}
    return {a["name"] for a in result.report["artifacts"] if a["kind"] in kinds}


def test_release_then_rerun_then_snapshot(
    duo: Path, server: FakeGitHub, plain_registry: Registry, gopipe_run: Callable[..., RunResult]
) -> None:
    first = gopipe_run(duo, "release", "--no-notify")
    assert first.exit_code == 0, first.report.get("error") or first.report["stages"]
    assert [s["name"] for s in first.report["stages"]] == ["build", "package", "upload", "publish"]
    changelog = (duo / "dist" / "CHANGELOG.md").read_text()
    assert changelog.startswith("## v1.1.0 (")
    assert (
        changelog.index("### Breaking changes")
        < changelog.index("### Features")
        < changelog.index("### Bug fixes")
    )
    assert "tidy" not in changelog and "(#3)" in changelog
    release = server.release_of("v1.1.0")
    assert release is not None and release["body"] == changelog
    expected = assets_of(first)
    assert len([n for n in expected if n.endswith((".deb", ".rpm"))]) == 4  # two archs, two formats
    assert len([n for n in expected if n.endswith(".tar.gz")]) == 2 and "checksums.txt" in expected
    assert set(server.asset_bytes("v1.1.0")) == expected
    paths = {a["name"]: a["path"] for a in first.report["artifacts"] if a["name"] in expected}
    for name, data in server.asset_bytes("v1.1.0").items():
        assert (duo / paths[name]).read_bytes() == data
    uploads = server.count("POST", "/api/uploads/")
    assert uploads == len(expected)
    # the chart is in the registry, with this run's alpha image digest, and helm renders it
    [chart] = [a for a in first.report["artifacts"] if a["kind"] == "helm-chart"]
    [alpha] = [a for a in first.report["artifacts"] if a["kind"] == "image" and a["name"] == "alpha"]
    assert "duo-1.1.0.tgz" in expected and chart["extra"]["image_digest"] == alpha["extra"]["index_digest"]
    helm = str(ensure_binaries().helm)
    env = {
        "HELM_CONFIG_HOME": str(duo.parent / "h"),
        "HELM_CACHE_HOME": str(duo.parent / "c"),
        "PATH": "/usr/bin:/bin",
    }
    (duo.parent / "pulled").mkdir()
    pull = [helm, "pull", f"oci://{plain_registry.host}/duo/charts/duo", "--version", "1.1.0", "--plain-http"]
    subprocess.run([*pull, "-d", str(duo.parent / "pulled")], check=True, env=env, capture_output=True)
    out = subprocess.run(
        [helm, "template", "duo", str(duo.parent / "pulled" / "duo-1.1.0.tgz")],
        check=True,
        env=env,
        capture_output=True,
    ).stdout.decode()
    assert f"{plain_registry.host}/duo/alpha@{alpha['extra']['index_digest']}" in out

    second = gopipe_run(duo, "release", "--no-notify")
    assert second.exit_code == 0, second.report["stages"]
    assert server.count("POST", "/api/uploads/") == uploads  # byte-identical rebuild: nothing new
    publish = next(s for s in second.report["stages"] if s["name"] == "publish")
    assert publish["summary"].endswith(f"0 uploaded, {len(expected)} unchanged")

    git(duo, "commit", "-q", "--allow-empty", "-m", "feat: after the release")
    before = len(server.requests)
    snap = gopipe_run(duo, "release", "--snapshot", "--no-notify")
    assert snap.exit_code == 0, snap.report["stages"]
    assert len(server.requests) == before  # published nothing, asked nothing
    assert snap.report["git"]["version"].startswith("1.1.1-SNAPSHOT-")
    assert all(a["snapshot"] for a in snap.report["artifacts"])
    assert {s["name"]: s["status"] for s in snap.report["stages"]}["publish"] == "skipped"


def test_release_of_an_untagged_commit_is_refused(
    duo: Path, server: FakeGitHub, gopipe_run: Callable[..., RunResult]
) -> None:
    git(duo, "commit", "-q", "--allow-empty", "-m", "fix: later")
    result = gopipe_run(duo, "release", "--no-notify")
    assert result.exit_code == 2
    assert "is not a version tag" in result.report["error"]
    assert server.requests == []
