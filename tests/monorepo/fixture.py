"""A real monorepo for the tests: ``go.work`` with ``services/api``, ``services/web`` and
``libs/shared``; ``services/api`` requires ``libs/shared`` through a ``replace``."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gopipe.testing import make_git_repo

GIT_ENV = {
    "GIT_AUTHOR_NAME": "gopipe",
    "GIT_AUTHOR_EMAIL": "ci@example.com",
    "GIT_COMMITTER_NAME": "gopipe",
    "GIT_COMMITTER_EMAIL": "ci@example.com",
    "PATH": "/usr/bin:/bin:/usr/local/bin",
}

_SHARED = """package shared

// Greeting is what every service says.
func Greeting(name string) string { return "hello, " + name }
"""
_SHARED_TEST = """package shared

import "testing"

func TestGreeting(t *testing.T) {
	if Greeting("go") != "hello, go" {
		t.Fatal(Greeting("go"))
	}
}
"""
_API = """package main

import (
	"fmt"

	"example.com/mono/libs/shared"
)

var version = "dev"

func main() { fmt.Println(shared.Greeting("api"), version) }
"""
_API_TEST = """package main

import "testing"

func TestVersion(t *testing.T) {
	if version == "" {
		t.Fatal("no version")
	}
}
"""
_WEB = """package main

import "fmt"

var version = "dev"

func main() { fmt.Println("web", version) }
"""
_WEB_TEST = """package main

import "testing"

func TestWeb(t *testing.T) {}
"""


# inherited by every module; libs/shared (a library) overrides build in the root's modules table
ROOT_CONFIG = """\
[tool.gopipe]
targets = ["linux/amd64"]

[tool.gopipe.lint]
providers = ["gofmt", "govet"]

[tool.gopipe.modules."libs/shared".build]
providers = []
"""
# services/web's own file: its lint runs gofmt only (arrays are replaced, not merged)
WEB_CONFIG = """\
[tool.gopipe.lint]
providers = ["gofmt"]
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def make_monorepo(repo: Path, *, go_work: bool = True) -> Path:
    """The three modules with their configs, committed; tags ``v0.1.0`` (no top module: ignored by all),
    ``libs/shared/v0.3.0`` and ``services/api/v1.2.3`` on the first commit."""
    write(repo / "libs/shared/go.mod", "module example.com/mono/libs/shared\n\ngo 1.24\n")
    write(repo / "libs/shared/shared.go", _SHARED)
    write(repo / "libs/shared/shared_test.go", _SHARED_TEST)
    write(
        repo / "services/api/go.mod",
        "module example.com/mono/services/api\n\ngo 1.24\n\n"
        "require example.com/mono/libs/shared v0.0.0\n\n"
        "replace example.com/mono/libs/shared => ../../libs/shared\n",
    )
    write(repo / "services/api/main.go", _API)
    write(repo / "services/api/main_test.go", _API_TEST)
    write(repo / "services/web/go.mod", "module example.com/mono/services/web\n\ngo 1.24\n")
    write(repo / "services/web/main.go", _WEB)
    write(repo / "services/web/main_test.go", _WEB_TEST)
    if go_work:
        write(repo / "go.work", "go 1.24\n\nuse (\n\t./libs/shared\n\t./services/api\n\t./services/web\n)\n")
    write(repo / "pyproject.toml", ROOT_CONFIG)
    write(repo / "services/web/pyproject.toml", WEB_CONFIG)
    make_git_repo(repo)
    for tag in ("v0.1.0", "libs/shared/v0.3.0", "services/api/v1.2.3"):
        git(repo, "tag", tag)
    return repo
