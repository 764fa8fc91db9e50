"""The generated workflows with ``[tool.gopipe.cache] remote``: the cache's secret reaches the
steps that run stages (ci and cd), and GOCACHEPROG replaces the Go build-cache tarball."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from gopipe.cli import main
from gopipe.github import CD_FILE, CI_FILE, WORKFLOW_DIR

CACHE = """
[tool.gopipe.cache]
remote = "oci://127.0.0.1:5000/cache"
username = "ci"
password = { env = "CACHE_TOKEN" }
"""


def _render(repo: Path, table: str) -> tuple[dict[str, Any], dict[str, Any]]:
    config = repo / "pyproject.toml"
    config.write_text(config.read_text() + table)
    assert main(["init", "--github", "-C", str(repo)]) == 0
    ci, cd = (yaml.safe_load((repo / WORKFLOW_DIR / name).read_text()) for name in (CI_FILE, CD_FILE))
    return ci, cd


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in workflow["jobs"].values() for s in job.get("steps", [])]


def test_the_cache_secret_reaches_ci_and_cd_and_the_tarball_goes(hello_repo: Path) -> None:
    ci, cd = _render(hello_repo, CACHE)
    ci_run = next(s for s in _steps(ci) if s.get("name") == "Run the ci pipeline")
    cd_run = next(s for s in _steps(cd) if s.get("name") == "Run the cd pipeline")
    assert ci_run["env"]["CACHE_TOKEN"] == "${{ secrets.CACHE_TOKEN }}"
    assert cd_run["env"]["CACHE_TOKEN"] == "${{ secrets.CACHE_TOKEN }}"
    cd_ci = next(s for s in cd["jobs"]["ci"]["steps"] if s.get("name") == "Run the ci pipeline")
    assert cd_ci["env"]["CACHE_TOKEN"] == "${{ secrets.CACHE_TOKEN }}"  # cd's own ci job writes
    assert not [s for s in _steps(ci) if s.get("name") == "Cache Go build"]
    assert not [s for s in _steps(ci) if "CACHE_TOKEN" in str(s.get("env", {})) and "Install" in s["name"]]


def test_without_go_build_cache_the_tarball_stays(hello_repo: Path) -> None:
    ci, _ = _render(hello_repo, CACHE + "go_build_cache = false\n")
    assert [s for s in _steps(ci) if s.get("name") == "Cache Go build"]


def test_without_a_remote_nothing_changes(hello_repo: Path) -> None:
    ci, _ = _render(hello_repo, "")
    assert [s for s in _steps(ci) if s.get("name") == "Cache Go build"]
    assert "CACHE_TOKEN" not in str(ci)
