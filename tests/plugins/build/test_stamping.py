"""Version stamping: the build variables real repositories declare are found and stamped
(go-httpbin's ``main.buildDate``, podinfo's ``…/pkg/version.REVISION``), configured ldflags
win, and an ``-X`` whose symbol is not in the binary is a warning naming it."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gopipe.testing import RunResult, make_git_repo
from gopipe_plugins.build.stamping import Package, declared, file_vars, stamp_kind, string_vars, x_symbols


# -- the scan ---------------------------------------------------------------------------------
def test_top_level_string_vars_in_every_shape() -> None:
    source = """// Package main. var notThis string
package main

import "fmt"

/* var inComment string
*/
var version = "dev" // var alsoNot string
var Commit string
var (
	buildDate string
	GitCommit, gitTreeState = "none", `clean`
	count     = 3
	parsed    = fmt.Sprint("x")
	typed     string = "t"
	other     int
	ptr       *string
)

var s = "var hidden string"

func main() {
	var local string
	fmt.Println(local, version)
}

const REVISION = "const is not a var"
"""
    assert string_vars(source) == [
        "version",
        "Commit",
        "buildDate",
        "GitCommit",
        "gitTreeState",
        "typed",
        "s",
    ]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("version", "{version}"),
        ("Version", "{version}"),
        ("VERSION", "{version}"),
        ("commit", "{commit}"),
        ("gitCommit", "{commit}"),
        ("GitCommit", "{commit}"),
        ("REVISION", "{commit}"),
        ("buildDate", "{date}"),
        ("BuildDate", "{date}"),
        ("date", "{date}"),
        ("build_time", "{date}"),
        ("versionString", None),
        ("gitTreeState", None),
    ],
)
def test_names_say_what_they_hold(name: str, kind: str | None) -> None:
    assert stamp_kind(name) == kind


def test_x_symbols_in_every_spelling() -> None:
    flags = "-s -w -X main.version=1 -X=main.commit=abc -X 'example.com/m/pkg/v.REVISION=x y'"
    assert x_symbols(flags) == ["main.version", "main.commit", "example.com/m/pkg/v.REVISION"]


def test_declared_reads_the_repository_only(tmp_path: Path) -> None:
    """Packages outside the repository (the standard library, the module cache) are skipped
    whole; a file of the repository's package that links outside it is not read either."""
    repo, outside = tmp_path / "repo", tmp_path / "gomodcache" / "dep"
    (repo / "cmd" / "app").mkdir(parents=True)
    outside.mkdir(parents=True)
    (repo / "cmd" / "app" / "main.go").write_text('package main\n\nvar version = "dev"\n')
    (outside / "dep.go").write_text('package dep\n\nvar Version = "x"\n')
    (repo / "cmd" / "app" / "linked.go").symlink_to(outside / "dep.go")
    packages = [
        Package("example.com/app", "main", repo / "cmd" / "app", ("main.go", "linked.go"), "example.com/app"),
        Package("example.com/dep", "dep", outside, ("dep.go",), "example.com/dep"),
    ]
    assert declared(packages, repo) == {"main.version"}


def test_a_huge_line_and_odd_bytes_do_not_break_the_scan(tmp_path: Path) -> None:
    huge = tmp_path / "huge.go"
    huge.write_bytes(b'package main\n\nvar blob = "' + b"a" * 3_000_000 + b'"\nvar version = "dev"\n')
    odd = tmp_path / "odd.go"
    odd.write_bytes(
        b'\xef\xbb\xbfpackage main\r\n// caf\xe9 \x00 \xff\xfe\r\nvar (\r\n\tcommit = "\xe9"\r\n)\r\n'
    )
    unterminated = tmp_path / "broken.go"
    unterminated.write_bytes(b'package main\nvar date = "open\nvar version string\n/* never closed')
    t0 = time.monotonic()
    assert file_vars(huge) == ["blob", "version"]
    assert file_vars(odd) == ["commit"]
    assert "version" in file_vars(unterminated)
    assert time.monotonic() - t0 < 5


# -- real builds --------------------------------------------------------------------------------
HTTPBIN_MAIN = """package main

import "fmt"

// Set at build time.
var (
	version   = "dev" // the release
	buildDate string
)

func main() { fmt.Println(version, buildDate) }
"""
PODINFO_VERSION = 'package version\n\nvar VERSION = "6.9.0"\nvar REVISION = "unknown"\n'
PODINFO_MAIN = """package main

import (
	"fmt"

	"github.com/stefanprodan/podinfo/pkg/version"
)

func main() { fmt.Println(version.VERSION, version.REVISION) }
"""


def tagged(repo: Path) -> Path:
    make_git_repo(repo)
    subprocess.run(["git", "tag", "v1.2.3"], cwd=repo, check=True)
    return repo


def sha(repo: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def output_of(result: RunResult, repo: Path) -> str:
    (binary,) = [a for a in result.report["artifacts"] if a["kind"] == "binary"]
    return subprocess.run([repo / binary["path"]], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.slow
def test_go_httpbin_shape_stamps_main_build_date(
    tmp_path: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    repo = tmp_path / "go-httpbin"
    (repo / "cmd" / "go-httpbin").mkdir(parents=True)
    (repo / "go.mod").write_text("module github.com/mccutchen/go-httpbin/v2\n\ngo 1.24\n")
    (repo / "cmd" / "go-httpbin" / "main.go").write_text(HTTPBIN_MAIN)
    (repo / "pyproject.toml").write_text('[tool.gopipe]\ntargets = ["linux/amd64"]\n')
    tagged(repo)
    result = gopipe_run(repo, "build")
    assert result.exit_code == 0, json.dumps(result.report, indent=1)
    assert output_of(result, repo) == "1.2.3 2026-01-02T03:04:05Z"
    log = (repo / "dist" / "gopipe" / "logs" / "build.log").read_text()
    assert "stamping main.version, main.buildDate" in log
    assert "warning" not in log


@pytest.mark.slow
def test_podinfo_shape_stamps_the_version_package(
    tmp_path: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    repo = tmp_path / "podinfo"
    (repo / "cmd" / "podinfo").mkdir(parents=True)
    (repo / "pkg" / "version").mkdir(parents=True)
    (repo / "go.mod").write_text("module github.com/stefanprodan/podinfo\n\ngo 1.24\n")
    (repo / "pkg" / "version" / "version.go").write_text(PODINFO_VERSION)
    (repo / "cmd" / "podinfo" / "main.go").write_text(PODINFO_MAIN)
    (repo / "pyproject.toml").write_text('[tool.gopipe]\ntargets = ["linux/amd64"]\n')
    tagged(repo)
    result = gopipe_run(repo, "build")
    assert result.exit_code == 0, json.dumps(result.report, indent=1)
    assert output_of(result, repo) == f"1.2.3 {sha(repo)}"
    log = (repo / "dist" / "gopipe" / "logs" / "build.log").read_text()
    assert "github.com/stefanprodan/podinfo/pkg/version.REVISION" in log


@pytest.mark.slow
def test_configured_ldflags_win_and_a_missing_symbol_is_a_warning(
    tmp_path: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    repo = tmp_path / "go-httpbin"
    (repo / "cmd" / "go-httpbin").mkdir(parents=True)
    (repo / "go.mod").write_text("module github.com/mccutchen/go-httpbin/v2\n\ngo 1.24\n")
    (repo / "cmd" / "go-httpbin" / "main.go").write_text(HTTPBIN_MAIN)
    (repo / "pyproject.toml").write_text(
        '[tool.gopipe]\ntargets = ["linux/amd64"]\n[tool.gopipe.build.go]\n'
        'ldflags = "-s -w -X main.version=custom -X main.date={date}"\n'
    )
    tagged(repo)
    result = gopipe_run(repo, "build")
    assert result.exit_code == 0, json.dumps(result.report, indent=1)
    assert output_of(result, repo) == "custom"  # main.buildDate is not stamped: config wins
    build = result.stage("build")
    assert "-X without a symbol: main.date" in build["summary"]
    log = (repo / "dist" / "gopipe" / "logs" / "build.log").read_text()
    assert "warning: -X main.date: no such symbol in the ./cmd/go-httpbin binary" in log
    assert "main.version:" not in log  # confirmed by the scan, no warning
