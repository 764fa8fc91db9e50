"""Fixtures for the package-stage tests: a Go module with a real third-party dependency.

The dependency (``golang.org/x/text``, fetched through the Go module proxy or the local
module cache) gives the SBOM something to list with a version and an ``h1:`` hash.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gopipe.testing import make_git_repo

TEXT_MODULE = "golang.org/x/text"
TEXT_VERSION = "v0.23.0"

GO_MOD = f"""module example.com/greeter

go 1.23

require {TEXT_MODULE} {TEXT_VERSION}
"""

MAIN_GO = """package main

import (
\t"fmt"
\t"os"

\t"golang.org/x/text/cases"
\t"golang.org/x/text/language"
)

var version = "dev"

func main() {
\tif len(os.Args) > 1 && os.Args[1] == "-version" {
\t\tfmt.Println("greeter", version)
\t\treturn
\t}
\tfmt.Println(cases.Title(language.English).String("hello, world"))
}
"""


def go_binary() -> str:
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        pytest.fail("the Go toolchain is required for the package tests", pytrace=False)
    return go


def write_package_config(repo: Path, body: str, targets: tuple[str, ...]) -> None:
    """Replace pyproject.toml with *targets* and the given [tool.gopipe.package...] tables."""
    quoted = ", ".join(f'"{t}"' for t in targets)
    (repo / "pyproject.toml").write_text(f"[tool.gopipe]\ntargets = [{quoted}]\n\n{body}")


def commit_all(repo: Path, message: str = "config") -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "gopipe",
        "GIT_AUTHOR_EMAIL": "ci@example.com",
        "GIT_COMMITTER_NAME": "gopipe",
        "GIT_COMMITTER_EMAIL": "ci@example.com",
        "GIT_AUTHOR_DATE": "2026-01-02T03:04:05Z",
        "GIT_COMMITTER_DATE": "2026-01-02T03:04:05Z",
    }
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", message], cwd=repo, check=True, env=env)


@pytest.fixture
def dep_repo(tmp_path: Path) -> Path:
    """``example.com/greeter``: one main package that imports golang.org/x/text, in git."""
    repo = tmp_path / "greeter"
    (repo / "cmd" / "greeter").mkdir(parents=True)
    (repo / "go.mod").write_text(GO_MOD)
    (repo / "cmd" / "greeter" / "main.go").write_text(MAIN_GO)
    (repo / "README.md").write_text("# greeter\n")
    (repo / "LICENSE").write_text("Apache-2.0\n")
    (repo / "docs").mkdir()
    (repo / "docs" / "usage.md").write_text("run it\n")
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    done = subprocess.run(
        [go_binary(), "mod", "tidy"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"go mod tidy failed (the Go module proxy must be reachable):\n{done.stderr}", pytrace=False
        )
    write_package_config(
        repo, '[tool.gopipe.package]\nproviders = ["archive"]\n', ("linux/amd64", "windows/amd64")
    )
    return make_git_repo(repo)
