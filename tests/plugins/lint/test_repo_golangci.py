"""A repository's own ``.golangci.yml`` (or ``.yaml``/``.toml``/``.json``) switches the
default lint selection to golangci-lint with that config; ``providers`` still wins."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from gopipe.config import load_config
from gopipe.stages import DEFAULT_PROVIDERS, Stage
from gopipe.testing import RunResult, make_git_repo

SAME = "package main\n\nfunc same(x int) bool { return x == x }\n\nfunc main() { _ = same(1) }\n"
STANDARD_WITHOUT_STATICCHECK = 'version: "2"\nlinters:\n  default: standard\n  disable:\n    - staticcheck\n'
ONLY_STATICCHECK = 'version: "2"\nlinters:\n  default: none\n  enable:\n    - staticcheck\n'


def module(path: Path, golangci: str | None = None, name: str = ".golangci.yml") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "go.mod").write_text("module example.com/linted\n\ngo 1.24\n")
    (path / "main.go").write_text(SAME)
    if golangci is not None:
        (path / name).write_text(golangci)
    return path


@pytest.mark.parametrize("name", [".golangci.yml", ".golangci.yaml", ".golangci.toml", ".golangci.json"])
def test_a_golangci_config_selects_golangci_lint(tmp_path: Path, name: str) -> None:
    repo = module(tmp_path / "repo", "", name)
    assert load_config(repo).stage(Stage.LINT).providers == ("golangci-lint",)


def test_without_one_the_defaults_stay(tmp_path: Path) -> None:
    repo = module(tmp_path / "repo")
    assert load_config(repo).stage(Stage.LINT).providers == DEFAULT_PROVIDERS[Stage.LINT]


def test_providers_in_config_win(tmp_path: Path) -> None:
    repo = module(tmp_path / "repo", STANDARD_WITHOUT_STATICCHECK)
    (repo / "pyproject.toml").write_text('[tool.gopipe.lint]\nproviders = ["govet"]\n')
    assert load_config(repo).stage(Stage.LINT).providers == ("govet",)


def test_the_git_top_counts_for_a_module_in_a_subdirectory(tmp_path: Path) -> None:
    top = tmp_path / "mono"
    service = module(top / "services" / "api")
    (top / ".golangci.toml").write_text('version = "2"\n')
    make_git_repo(top)
    assert load_config(service).stage(Stage.LINT).providers == ("golangci-lint",)


def test_a_directory_named_like_the_config_is_not_one(tmp_path: Path) -> None:
    repo = module(tmp_path / "repo")
    (repo / ".golangci.yml").mkdir()
    assert load_config(repo).stage(Stage.LINT).providers == DEFAULT_PROVIDERS[Stage.LINT]


@pytest.mark.slow
def test_golangci_lint_honours_a_linter_the_config_disables(
    tmp_path: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    repo = make_git_repo(module(tmp_path / "repo", STANDARD_WITHOUT_STATICCHECK))
    result = gopipe_run(repo, "lint")
    assert result.exit_code == 0, json.dumps(result.report, indent=1)
    lint = result.stage("lint")
    assert [p["name"] for p in lint["providers"]] == ["golangci-lint"]
    log = (repo / "dist" / "gopipe" / "logs" / "lint.log").read_text()
    assert "golangci-lint config: .golangci.yml" in log
    assert "SA4000" not in log


@pytest.mark.slow
def test_golangci_lint_reports_what_the_config_enables(
    tmp_path: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    repo = make_git_repo(module(tmp_path / "repo", ONLY_STATICCHECK))
    result = gopipe_run(repo, "lint")
    assert result.exit_code == 1
    lint = result.stage("lint")
    assert [p["name"] for p in lint["providers"]] == ["golangci-lint"]
    assert "main.go:3" in lint["error"] and "identical expressions" in lint["error"]
