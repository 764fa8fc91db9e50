"""Bad input to the package providers: one line naming the file/key and the fix.

A missing Dockerfile for a selected docker/buildah packager is a config error (exit 2),
caught before any stage runs; work that cannot be done (a platform nobody built, pushing
a tag without a registry) fails the stage (exit 1) before anything is built.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.plugins.package.conftest import commit_all, write_package_config

from gopipe.testing import RunResult


@pytest.mark.parametrize("provider", ["docker", "buildah"])
def test_missing_default_dockerfile_is_a_config_error(
    hello_repo: Path, gopipe_run: Callable[..., RunResult], provider: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (hello_repo / "Dockerfile").unlink()
    write_package_config(hello_repo, f'[tool.gopipe.package]\nproviders = ["{provider}"]\n', ("linux/amd64",))
    commit_all(hello_repo)
    result = gopipe_run(hello_repo, "package")
    assert result.exit_code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"tool.gopipe.package.{provider}.dockerfile" in err
    assert f"Dockerfile not found: {hello_repo / 'Dockerfile'}" in err
    assert "fix: create Dockerfile" in err
    assert not (hello_repo / "dist" / "hello_linux_amd64").exists(), "nothing may be built"


def test_missing_configured_dockerfile_names_the_configured_path(
    hello_repo: Path, gopipe_run: Callable[..., RunResult], capsys: pytest.CaptureFixture[str]
) -> None:
    write_package_config(
        hello_repo,
        """[tool.gopipe.package]
providers = ["buildah"]

[tool.gopipe.package.buildah]
dockerfile = "build/Containerfile"
""",
        ("linux/amd64",),
    )
    commit_all(hello_repo)
    result = gopipe_run(hello_repo, "package")
    assert result.exit_code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"Dockerfile not found: {hello_repo / 'build' / 'Containerfile'}" in err
    assert "create build/Containerfile" in err


@pytest.mark.slow
def test_platform_that_was_not_built_fails_the_stage(
    hello_repo: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    write_package_config(
        hello_repo,
        """[tool.gopipe.package]
providers = ["docker"]

[tool.gopipe.package.docker]
platforms = ["linux/s390x"]
""",
        ("linux/amd64",),
    )
    commit_all(hello_repo)
    result = gopipe_run(hello_repo, "package")
    assert result.exit_code == 1
    error = result.stage("package")["error"]
    assert "linux/s390x" in error and "[tool.gopipe] targets" in error and "\n" not in error


@pytest.mark.slow
def test_push_without_registry_in_tag_fails_before_building(
    hello_repo: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    write_package_config(
        hello_repo,
        """[tool.gopipe.package]
providers = ["buildah"]

[tool.gopipe.package.buildah]
push = true
""",
        ("linux/amd64",),
    )
    commit_all(hello_repo)
    result = gopipe_run(hello_repo, "package")
    assert result.exit_code == 1
    error = result.stage("package")["error"]
    assert "names no registry" in error and "tool.gopipe.package.buildah.tags" in error
    log = (hello_repo / "dist" / "gopipe" / "logs" / "package.log").read_text()
    assert "bud" not in log, "nothing may be built when the push cannot happen"


@pytest.mark.slow
def test_no_linux_binaries_fails_with_the_fix(hello_repo: Path, gopipe_run: Callable[..., RunResult]) -> None:
    write_package_config(hello_repo, '[tool.gopipe.package]\nproviders = ["docker"]\n', ("darwin/arm64",))
    commit_all(hello_repo)
    result = gopipe_run(hello_repo, "package")
    assert result.exit_code == 1
    assert "no linux binaries" in result.stage("package")["error"]
