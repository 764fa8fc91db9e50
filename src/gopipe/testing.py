"""gopipe's pytest plugin (entry point ``pytest11``): fixtures for testing gopipe plugins.

- ``go_repo``: a copy of a small real Go module in a temporary git repository.
- ``gopipe_run``: run a pipeline or stage in-process and get the exit code and report.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello"

_GO_MOD = "module example.com/fixture\n\ngo 1.24\n"
_MAIN = """package main

import "fmt"

var version = "dev"

func main() { fmt.Println("fixture", version) }
"""


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    report: dict[str, Any]

    def stage(self, name: str) -> dict[str, Any]:
        return next(s for s in self.report["stages"] if s["name"] == name)


def make_git_repo(path: Path) -> Path:
    """Initialise a git repository with one commit, as CI checkouts have."""
    env = {"GIT_AUTHOR_NAME": "gopipe", "GIT_AUTHOR_EMAIL": "ci@example.com",
           "GIT_COMMITTER_NAME": "gopipe", "GIT_COMMITTER_EMAIL": "ci@example.com",
           "GIT_AUTHOR_DATE": "2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE": "2026-01-02T03:04:05Z",
           "PATH": "/usr/bin:/bin:/usr/local/bin"}
    (path / ".gitignore").write_text("/dist/\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        subprocess.run(["git", *args], cwd=path, check=True, env=env)
    return path


@pytest.fixture
def go_repo(tmp_path: Path) -> Path:
    """A minimal Go module (one main package) in a fresh git repository."""
    repo = tmp_path / "repo"
    (repo / "cmd" / "fixture").mkdir(parents=True)
    (repo / "go.mod").write_text(_GO_MOD)
    (repo / "cmd" / "fixture" / "main.go").write_text(_MAIN)
    (repo / "pyproject.toml").write_text('[tool.gopipe]\ntargets = ["linux/amd64"]\n')
    return make_git_repo(repo)


@pytest.fixture
def hello_repo(tmp_path: Path) -> Path:
    """A copy of examples/hello in a fresh git repository."""
    repo = tmp_path / "hello"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("dist", ".nox", "__pycache__"))
    return make_git_repo(repo)


@pytest.fixture
def gopipe_run() -> Iterator[Callable[..., RunResult]]:
    """Run ``gopipe run ARGS`` in-process against a repository; returns code and report."""
    from gopipe.cli import main

    def run(repo: Path, *args: str) -> RunResult:
        code = main(["run", *args, "-C", str(repo), "--plain"])
        report_file = repo / "dist" / "gopipe" / "report.json"
        report = json.loads(report_file.read_text()) if report_file.is_file() else {}
        return RunResult(code, report)

    yield run
