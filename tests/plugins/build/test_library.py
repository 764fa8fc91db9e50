"""A library module (no main package), zero-config: build is a compile check, ci is green,
and package says there is nothing to package instead of failing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from gopipe.cli import main
from gopipe.testing import RunResult, make_git_repo

pytestmark = pytest.mark.slow  # real go build / go test / staticcheck

GO_MOD = "module example.com/mathlib\n\ngo 1.24\n"
ADD_GO = (
    "// Package mathlib adds numbers.\npackage mathlib\n\n"
    "// Add returns a+b.\nfunc Add(a, b int) int { return a + b }\n"
)
SUM_GO = (
    "package sum\n\n// Of sums xs.\nfunc Of(xs ...int) (n int) {\n"
    "\tfor _, x := range xs {\n\t\tn += x\n\t}\n\treturn n\n}\n"
)
ADD_TEST = (
    'package mathlib\n\nimport "testing"\n\n'
    'func TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal("wrong")\n\t}\n}\n'
)


def library(tmp_path: Path) -> Path:
    repo = tmp_path / "mathlib"
    (repo / "internal" / "sum").mkdir(parents=True)
    (repo / "go.mod").write_text(GO_MOD)
    (repo / "add.go").write_text(ADD_GO)
    (repo / "add_test.go").write_text(ADD_TEST)
    (repo / "internal" / "sum" / "sum.go").write_text(SUM_GO)
    return make_git_repo(repo)


def test_init_then_ci_is_green_on_a_library(tmp_path: Path, gopipe_run: Callable[..., RunResult]) -> None:
    repo = library(tmp_path)
    assert main(["init", "-C", str(repo)]) == 0
    result = gopipe_run(repo, "ci")
    assert result.exit_code == 0, json.dumps(result.report, indent=1)
    build = result.stage("build")
    assert build["status"] == "success"
    assert "no main package" in build["summary"] and "2 packages" in build["summary"]
    kinds = [a["kind"] for a in result.report["artifacts"]]
    assert "binary" not in kinds
    check = next(a for a in result.report["artifacts"] if a["kind"] == "compile-check")
    assert check["extra"]["packages"] == 2 and check.get("path") is None


def test_a_library_that_does_not_compile_fails_build(
    tmp_path: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    repo = library(tmp_path)
    (repo / "internal" / "sum" / "sum.go").write_text("package sum\n\nfunc Of() int { return nope }\n")
    result = gopipe_run(repo, "build")
    assert result.exit_code == 1
    build = result.stage("build")
    assert build["status"] == "failed"
    assert "internal/sum/sum.go:3" in build["error"] and "nope" in build["error"]


def test_zero_config_package_says_there_is_nothing_to_package(
    tmp_path: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    repo = library(tmp_path)
    result = gopipe_run(repo, "package")
    assert result.exit_code == 0, json.dumps(result.report, indent=1)
    package = result.stage("package")
    assert package["status"] == "success"
    assert "nothing to package" in package["summary"]
    assert not [a for a in result.report["artifacts"] if a["kind"] in ("archive", "image", "binary")]


def test_explicit_archive_on_a_library_still_fails(
    tmp_path: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    repo = library(tmp_path)
    (repo / "pyproject.toml").write_text('[tool.gopipe.package]\nproviders = ["archive"]\n')
    result = gopipe_run(repo, "package")
    assert result.exit_code == 1
    assert "no binaries to archive" in result.stage("package")["error"]
