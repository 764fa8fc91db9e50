"""Hostile monorepo input: modules that leave the repository, module paths and refs that try to
become options or paths. Each is one line, exit 2, no traceback, a report, nothing outside touched."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.hostile.conftest import Sandbox

pytestmark = pytest.mark.slow


def _one_error_line(stderr: str, fragment: str) -> None:
    lines = [line for line in stderr.splitlines() if fragment in line]
    assert len(lines) == 1, stderr


def test_go_work_use_outside_the_repository_is_refused(sandbox: Sandbox) -> None:
    (sandbox.repo / "go.work").write_text("go 1.24\n\nuse (\n\t.\n\t../outside\n)\n")
    outcome = sandbox.run("run", "ci", "--plain")
    sandbox.check(outcome, code=2, says="go.work: use: '../outside' leaves the repository")
    _one_error_line(outcome.stderr, "leaves the repository")


def test_symlinked_module_dir_escaping_the_repository_is_refused(sandbox: Sandbox) -> None:
    outside = sandbox.sentinel / "outside" / "mod"
    outside.mkdir()
    (outside / "go.mod").write_text("module example.com/outside\n\ngo 1.24\n")
    os.symlink(outside, sandbox.repo / "linked")
    sandbox.before = sandbox.snapshot()
    (sandbox.repo / "go.work").write_text("go 1.24\n\nuse (\n\t.\n\t./linked\n)\n")
    outcome = sandbox.run("run", "ci", "--plain")
    sandbox.check(outcome, code=2, says="go.work: use: './linked' leaves the repository")
    # without go.work the walk does not follow the link: the module outside is not listed
    (sandbox.repo / "go.work").unlink()
    listed = sandbox.run("modules", "--json")
    assert listed.code == 0, listed.output
    assert [m["path"] for m in json.loads(listed.stdout)] == ["."]


@pytest.mark.parametrize("given", ["../x", "/etc", "--help", ".."])
def test_module_paths_outside_the_repository_are_refused(sandbox: Sandbox, given: str) -> None:
    outcome = sandbox.run("run", "ci", "--plain", f"--module={given}")
    sandbox.check(outcome, code=2, says="--module")
    _one_error_line(outcome.stderr, "--module")


def test_unknown_module_path_names_the_known_ones(sandbox: Sandbox) -> None:
    outcome = sandbox.run("run", "lint", "--plain", "--module", "cmd")
    sandbox.check(outcome, code=2, says="is not a module of this repository")
    assert "modules: ." in outcome.stderr


def test_option_looking_ref_is_never_passed_to_git(sandbox: Sandbox) -> None:
    target = sandbox.sentinel / "outside" / "x"
    for command in (["run", "ci", "--plain"], ["modules", "--json"]):
        outcome = sandbox.run(*command, f"--changed-since=--output={target}")
        sandbox.check(outcome, code=2, report=command[0] == "run", says="--changed-since")
        assert not target.exists()
    # the separate form is an argparse usage error: exit 2, nothing run
    outcome = sandbox.run("run", "ci", "--plain", "--changed-since", f"--output={target}")
    assert outcome.code == 2 and "Traceback" not in outcome.output
    assert not target.exists()


def test_unknown_ref_is_one_line_and_a_report(sandbox: Sandbox) -> None:
    outcome = sandbox.run("run", "ci", "--plain", "--changed-since", "no-such-branch")
    sandbox.check(outcome, code=2, says="unknown git ref 'no-such-branch'")
    _one_error_line(outcome.stderr, "no-such-branch")
    assert outcome.report is not None and "no-such-branch" in outcome.report["error"]


def test_module_config_with_its_own_modules_table_is_refused(sandbox: Sandbox) -> None:
    sub = sandbox.repo / "svc"
    sub.mkdir()
    (sub / "go.mod").write_text("module example.com/svc\n\ngo 1.24\n")
    (sub / "main.go").write_text("package main\n\nfunc main() {}\n")
    (sub / "pyproject.toml").write_text('[tool.gopipe.modules."x"]\nmain = ["."]\n')
    (sandbox.repo / "go.work").write_text("go 1.24\n\nuse (\n\t.\n\t./svc\n)\n")
    outcome = sandbox.run("run", "lint", "--plain")
    sandbox.check(outcome, code=2, says="svc/pyproject.toml: tool.gopipe.modules")
    assert Path(sub / "dist" / "gopipe" / "report.json").is_file()
