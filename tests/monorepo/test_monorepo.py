"""A real monorepo with a real Go toolchain: discovery, the dependency graph, ``--changed-since``,
one report at the top with repository-relative paths, layered config and prefixed versions."""

from __future__ import annotations

import io
import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from tests.monorepo.fixture import git, make_monorepo, write

from gopipe.cli import main
from gopipe.git import read_git_info
from gopipe.modules import discover
from gopipe.monorepo import run_modules

pytestmark = pytest.mark.slow

MODULES = ["libs/shared", "services/api", "services/web"]


@pytest.fixture
def mono(tmp_path: Path) -> Path:
    return make_monorepo(tmp_path / "mono")


def listed(repo: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> Any:
    assert main(["modules", "-C", str(repo), "--json", *args]) == 0
    return [m["path"] for m in json.loads(capsys.readouterr().out)]


def test_go_work_lists_three_modules_and_the_replace_edge(mono: Path) -> None:
    workspace = discover(mono)
    assert workspace.source == "go.work"
    assert [m.path for m in workspace.modules] == MODULES
    api = workspace.get("services/api")
    assert api is not None and api.depends_on == ("libs/shared",)
    assert api.module_path == "example.com/mono/services/api"


def test_without_go_work_every_go_mod_outside_skipped_dirs(mono: Path) -> None:
    (mono / "go.work").unlink()
    for skipped in ("vendor/x", "services/api/testdata/y", ".hidden/z", "dist/w"):
        write(mono / skipped / "go.mod", f"module example.com/{skipped.replace('/', '-')}\n\ngo 1.24\n")
    workspace = discover(mono)
    assert workspace.source == "go.mod"
    assert [m.path for m in workspace.modules] == MODULES
    assert workspace.get("services/api").depends_on == ("libs/shared",)  # type: ignore[union-attr]


def test_change_to_the_library_selects_it_and_its_dependant(
    mono: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = git(mono, "rev-parse", "HEAD")
    write(mono / "libs/shared/more.go", "package shared\n\nconst More = 1\n")
    git(mono, "add", "-A")
    git(mono, "commit", "-qm", "shared: more")
    assert listed(mono, "--changed-since", base, capsys=capsys) == ["libs/shared", "services/api"]
    # an uncommitted change counts too, and a run's outputs never do
    write(mono / "services/web/dist/gopipe/report.json", "{}")
    assert listed(mono, "--changed-since", "HEAD", capsys=capsys) == []
    (mono / "services/web/main.go").write_text((mono / "services/web/main.go").read_text() + "\n")
    assert listed(mono, "--changed-since", "HEAD", capsys=capsys) == ["services/web"]
    (mono / "go.work").write_text((mono / "go.work").read_text() + "\n")
    assert listed(mono, "--changed-since", "HEAD", capsys=capsys) == MODULES


def test_root_ci_is_one_report_with_repository_relative_paths(mono: Path) -> None:
    code = main(["run", "ci", "-C", str(mono), "--plain", "--no-notify"])
    report = json.loads((mono / "dist/gopipe/report.json").read_text())
    assert code == 0, report
    assert [m["path"] for m in report["modules"]] == MODULES
    assert [s["name"] for s in report["stages"]] == ["lint", "test", "coverage", "build"]
    for module in report["modules"]:
        # libs/shared's build has providers = [] (the layered table below): nothing to do
        expected = ["success"] * 3 + ["skipped" if module["path"] == "libs/shared" else "success"]
        assert [s["status"] for s in module["stages"]] == expected, module
        assert (mono / module["report"]).is_file()
    # layered config: web's own file replaced lint's providers, the root's table emptied build
    lint = {m["path"]: [p["name"] for p in m["stages"][0]["providers"]] for m in report["modules"]}
    assert lint == {
        "libs/shared": ["gofmt", "govet"],
        "services/api": ["gofmt", "govet"],
        "services/web": ["gofmt"],
    }
    files = [a for a in report["artifacts"] if a.get("path")]
    assert files and all((mono / a["path"]).is_file() for a in files), files
    binaries = sorted(a["path"] for a in files if a["kind"] == "binary")
    assert binaries == ["services/api/dist/api_linux_amd64/api", "services/web/dist/web_linux_amd64/web"]
    # inside the outputs too: JUnit, Cobertura and SARIF name files from the repository's top
    junit = ET.parse(mono / "services/api/dist/gopipe/junit.xml")
    assert {c.get("file") for c in junit.iter("testcase")} == {"services/api/main_test.go"}
    cobertura = ET.parse(mono / "libs/shared/dist/gopipe/coverage.xml")
    assert {c.get("filename") for c in cobertura.iter("class")} == {"libs/shared/shared.go"}
    assert cobertura.findtext("sources/source") == str(mono)


def test_a_failing_module_fails_the_run_and_is_named(mono: Path) -> None:
    write(
        mono / "services/web/main_test.go",
        'package main\n\nimport "testing"\n\nfunc TestWeb(t *testing.T) { t.Fatal("no") }\n',
    )
    out = io.StringIO()
    environ = {**os.environ, "GITHUB_ACTIONS": "true"}
    environ.pop("GITHUB_STEP_SUMMARY", None)
    report = run_modules(["test"], root=mono, notify=False, stream=out, environ=environ)
    assert report.exit_code == 1
    test = report.stage("test")
    assert test is not None and test.status == "failed"
    assert test.error is not None and test.error.startswith("services/web: ")
    statuses = {m["path"]: m["status"] for m in report.modules}
    assert statuses == {"libs/shared": "success", "services/api": "success", "services/web": "failed"}
    shown = out.getvalue()
    assert "[services/web] " in shown
    # the module's failure is an annotation at its repository-relative file, at a line's start
    assert "\n::error file=services/web/main_test.go" in shown, shown


def test_module_option_runs_only_that_module(mono: Path) -> None:
    code = main(["run", "test", "-C", str(mono), "--plain", "--no-notify", "--module", "./services/web/"])
    report = json.loads((mono / "dist/gopipe/report.json").read_text())
    assert code == 0
    assert [m["path"] for m in report["modules"]] == ["services/web"]
    assert not (mono / "services/api/dist").exists()


def test_config_error_in_a_modules_own_file_names_it(mono: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(mono / "services/web/pyproject.toml", '[tool.gopipe.lint]\nproviders = ["gofmt"]\ntimeout = -1\n')
    code = main(["run", "lint", "-C", str(mono), "--plain", "--no-notify"])
    report = json.loads((mono / "dist/gopipe/report.json").read_text())
    assert code == 2 and report["exit_code"] == 2
    assert "services/web/pyproject.toml" in report["error"] and "tool.gopipe.lint.timeout" in report["error"]
    errors = [line for line in capsys.readouterr().err.splitlines() if "timeout" in line]
    assert len(errors) == 1, errors


def test_config_error_in_the_root_modules_table_names_that_key(mono: Path) -> None:
    root = (mono / "pyproject.toml").read_text()
    (mono / "pyproject.toml").write_text(
        root + '\n[tool.gopipe.modules."services/api".lint]\nprovders = ["gofmt"]\n'
    )
    report = run_modules(["lint"], root=mono, notify=False, stream=io.StringIO())
    assert report.exit_code == 2
    assert report.error is not None
    assert 'tool.gopipe.modules."services/api".lint.provders' in report.error, report.error
    assert "pyproject.toml" in report.error


def test_unknown_module_in_the_modules_table_is_refused(mono: Path) -> None:
    root = (mono / "pyproject.toml").read_text()
    (mono / "pyproject.toml").write_text(root + '\n[tool.gopipe.modules."services/apj"]\nmain = ["."]\n')
    report = run_modules(["lint"], root=mono, notify=False, stream=io.StringIO())
    assert report.exit_code == 2
    assert report.error is not None and "did you mean 'services/api'" in report.error


def test_prefixed_tags_version_their_module_only(mono: Path) -> None:
    api = read_git_info(mono / "services/api")
    assert (api.tag, api.version, api.is_release_tag) == ("services/api/v1.2.3", "1.2.3", True)
    web = read_git_info(mono / "services/web")
    assert web.tag is None and web.version.startswith("0.0.0-") and not web.is_release_tag
    top = read_git_info(mono, tag_prefix="")
    assert (top.tag, top.version) == ("v0.1.0", "0.1.0")
    git(mono, "tag", "services/api/v2/v2.0.0")  # a nested module's tag is not services/api's
    git(mono, "tag", "-d", "services/api/v1.2.3")
    git(mono, "tag", "-d", "v0.1.0")
    assert read_git_info(mono / "services/api").version.startswith("0.0.0-")
    assert read_git_info(mono, tag_prefix="").tag is None


def test_build_at_a_prefixed_tag_stamps_the_module_version(mono: Path) -> None:
    code = main(["run", "build", "-C", str(mono / "services/api"), "--plain", "--no-notify"])
    report = json.loads((mono / "services/api/dist/gopipe/report.json").read_text())
    assert code == 0
    assert (report["git"]["tag"], report["git"]["version"]) == ("services/api/v1.2.3", "1.2.3")
    # run in the module, it inherits the top's config (one target) as a run from the top does
    assert [a["path"] for a in report["artifacts"] if a["kind"] == "binary"] == ["dist/api_linux_amd64/api"]
    binary = mono / "services/api/dist/api_linux_amd64/api"
    done = subprocess.run([binary], capture_output=True, text=True, check=True)
    assert done.stdout == "hello, api 1.2.3\n"


def test_a_single_module_repository_still_runs_as_one(go_repo: Path) -> None:
    code = main(["run", "build", "-C", str(go_repo), "--plain", "--no-notify"])
    report = json.loads((go_repo / "dist/gopipe/report.json").read_text())
    assert code == 0 and "modules" not in report


def test_a_top_module_in_a_workspace_writes_beside_the_runs_report(go_repo: Path) -> None:
    write(go_repo / "tools/go.mod", "module example.com/tools\n\ngo 1.24\n")
    write(go_repo / "tools/tools.go", 'package tools\n\nconst Name = "tools"\n')
    write(go_repo / "go.work", "go 1.24\n\nuse (\n\t.\n\t./tools\n)\n")
    report = run_modules(["lint"], root=go_repo, notify=False, stream=io.StringIO())
    assert report.exit_code == 0, report.error
    assert [m["path"] for m in report.modules] == [".", "tools"]
    assert report.modules[0]["report"] == "dist/top-module/gopipe/report.json"
    assert (go_repo / "dist/top-module/gopipe/report.json").is_file()
    assert (go_repo / "tools/dist/gopipe/report.json").is_file()


def test_check_covers_every_modules_layered_config(mono: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-C", str(mono)]) == 0
    assert "3 modules" in capsys.readouterr().out
    write(mono / "services/web/pyproject.toml", "[tool.gopipe.coverage.threshold]\ntotl = 80\n")
    assert main(["check", "-C", str(mono)]) == 2
    err = capsys.readouterr().err
    assert "services/web/pyproject.toml: tool.gopipe.coverage.threshold.totl" in err, err
