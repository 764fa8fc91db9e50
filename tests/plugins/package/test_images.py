"""``docker`` and ``buildah`` packagers against a real dockerd (Debian docker.io, vfs) and a
real buildah (vfs, chroot isolation), pushing to a real docker-registry on loopback.
Images are read back with ``docker image inspect``/``skopeo inspect`` and run with dockerd."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.harness import skopeo
from tests.harness.buildah import Buildah
from tests.harness.dockerd import Dockerd
from tests.harness.registry import Registry
from tests.plugins.package.conftest import commit_all, write_package_config

from gopipe.testing import RunResult

pytestmark = pytest.mark.slow

TARGETS = ("linux/amd64", "linux/arm64")


def _images(result: RunResult) -> list[dict[str, Any]]:
    return sorted(
        (a for a in result.report["artifacts"] if a["kind"] == "image"), key=lambda a: a["extra"]["platform"]
    )


def _run_ok(gopipe_run: Callable[..., RunResult], repo: Path) -> RunResult:
    result = gopipe_run(repo, "package")
    assert result.exit_code == 0, json.dumps(result.report.get("stages"), indent=1)
    return result


def _use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def test_docker_builds_hello_image_that_runs_and_prints_its_version(
    hello_repo: Path, gopipe_run: Callable[..., RunResult], dockerd: Dockerd, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_env(monkeypatch, dockerd.env())
    write_package_config(hello_repo, '[tool.gopipe.package]\nproviders = ["docker"]\n', TARGETS)
    commit_all(hello_repo)
    result = _run_ok(gopipe_run, hello_repo)
    git = result.report["git"]
    images = _images(result)
    assert [i["extra"]["platform"] for i in images] == list(TARGETS)
    for image, arch in zip(images, ("amd64", "arm64"), strict=True):
        extra = image["extra"]
        assert extra["builder"] == "docker" and image["arch"] == arch and image["os"] == "linux"
        assert extra["reference"] == f"hello:{git['version']}-{arch}"
        assert extra["image_id"].startswith("sha256:")
        fmt = (
            "{{.Id}}|{{.Os}}/{{.Architecture}}|{{.Config.User}}|{{json .Config.Entrypoint}}|"
            '{{index .Config.Labels "org.opencontainers.image.revision"}}'
        )
        inspected = dockerd.run("image", "inspect", extra["reference"], "--format", fmt).stdout
        assert inspected.strip().split("|") == [
            extra["image_id"],
            f"linux/{arch}",
            "65532:65532",
            '["/hello"]',
            git["sha"],
        ]

    amd64 = images[0]["extra"]["reference"]
    printed = dockerd.run("run", "--rm", "--network", "none", amd64, "-version").stdout
    assert printed.strip() == f"hello {git['version']} (commit {git['sha']}, built {git['date']})"
    assert "2 images built with docker" in result.stage("package")["summary"]


def test_docker_pushes_tags_to_a_registry(
    hello_repo: Path,
    gopipe_run: Callable[..., RunResult],
    dockerd: Dockerd,
    plain_registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _use_env(monkeypatch, dockerd.env())
    write_package_config(
        hello_repo,
        f"""[tool.gopipe.package]
providers = ["docker"]

[tool.gopipe.package.docker]
tags = ["{plain_registry.host}/team/hello:{{version}}", "{plain_registry.host}/team/hello:{{short_commit}}"]
push = true
""",
        ("linux/amd64",),
    )
    commit_all(hello_repo)
    result = _run_ok(gopipe_run, hello_repo)
    [image] = _images(result)
    git = result.report["git"]
    digest = image["extra"]["digest"]
    repo = f"{plain_registry.host}/team/hello"
    assert image["extra"]["pushed"] == [f"{repo}@{digest}", f"{repo}@{digest}"]
    for tag in (git["version"], git["short_sha"]):
        info = skopeo.inspect(skopeo.ref(plain_registry, "team/hello", tag), plain_registry)
        assert info["Digest"] == digest and info["Architecture"] == "amd64"


def test_buildah_builds_pushes_and_is_reproducible(
    hello_repo: Path,
    gopipe_run: Callable[..., RunResult],
    buildah: Buildah,
    plain_registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _use_env(monkeypatch, buildah.env())
    write_package_config(
        hello_repo,
        f"""[tool.gopipe.package]
providers = ["buildah"]

[tool.gopipe.package.buildah]
tags = ["{plain_registry.host}/team/hello-buildah:{{version}}-{{arch}}"]
push = true
tls_verify = false
""",
        TARGETS,
    )
    commit_all(hello_repo)
    first = _run_ok(gopipe_run, hello_repo)
    git = first.report["git"]
    images = _images(first)
    assert [i["extra"]["platform"] for i in images] == list(TARGETS)
    for image, arch in zip(images, ("amd64", "arm64"), strict=True):
        extra = image["extra"]
        assert extra["builder"] == "buildah" and image["arch"] == arch
        tag = f"{git['version']}-{arch}"
        assert extra["reference"] == f"{plain_registry.host}/team/hello-buildah:{tag}"
        ref = skopeo.ref(plain_registry, "team/hello-buildah", tag)
        info = skopeo.inspect(ref, plain_registry)
        assert info["Digest"] == extra["digest"]
        assert (info["Os"], info["Architecture"]) == ("linux", arch)
        assert info["Labels"]["org.opencontainers.image.version"] == git["version"]
        config = skopeo.run(["inspect", "--config", *skopeo.registry_args(plain_registry), ref])
        runtime = json.loads(config)["config"]
        assert runtime["User"] == "65532:65532" and runtime["Entrypoint"] == ["/hello"]

    # --timestamp <commit time>: building the same commit again gives the same image.
    second = _run_ok(gopipe_run, hello_repo)
    assert [(i["extra"]["image_id"], i["extra"]["digest"]) for i in _images(second)] == [
        (i["extra"]["image_id"], i["extra"]["digest"]) for i in images
    ]


def test_buildah_image_runs_with_dockerd(
    hello_repo: Path,
    gopipe_run: Callable[..., RunResult],
    buildah: Buildah,
    dockerd: Dockerd,
    plain_registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The daemonless build is a normal image: pull it into dockerd and run it."""
    _use_env(monkeypatch, buildah.env())
    write_package_config(
        hello_repo,
        f"""[tool.gopipe.package]
providers = ["buildah"]

[tool.gopipe.package.buildah]
tags = ["{plain_registry.host}/team/hello-run:{{short_commit}}"]
push = true
tls_verify = false
""",
        ("linux/amd64",),
    )
    commit_all(hello_repo)
    result = _run_ok(gopipe_run, hello_repo)
    [image] = _images(result)
    git = result.report["git"]
    pinned = image["extra"]["pushed"][0]
    assert pinned.endswith("@" + image["extra"]["digest"])
    dockerd.run("pull", pinned)
    printed = dockerd.run("run", "--rm", "--network", "none", pinned, "-version").stdout
    assert printed.strip() == f"hello {git['version']} (commit {git['sha']}, built {git['date']})"
