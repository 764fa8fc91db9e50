"""A stage with no providers is ``skipped (no providers)``, not ``success``: in the console,
report.json, events and the step summary. It fails nothing and blocks no stage after it."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from gopipe.lifecycle import RunSession
from gopipe.merge import merge_stage
from gopipe.report import NO_PROVIDERS, StageResult, run_status
from gopipe.testing import make_git_repo

EMPTY = "[tool.gopipe.build]\nproviders = []\n[tool.gopipe.package]\nproviders = []\n"


def repo(tmp_path: Path, config: str) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    (path / "go.mod").write_text("module example.com/empty\n\ngo 1.24\n")
    (path / "pyproject.toml").write_text(config)
    return make_git_repo(path)


def run(path: Path, *targets: str) -> tuple[int, str, dict[str, object], Path]:
    stream = io.StringIO()
    summary = path.parent / "step-summary.md"
    environ = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": ""}
    report = RunSession(path, stream=stream, environ=environ).run(list(targets))
    data = json.loads((path / "dist" / "gopipe" / "report.json").read_text())
    return report.exit_code, stream.getvalue(), data, summary


def test_empty_stages_are_skipped_with_the_reason_everywhere(tmp_path: Path) -> None:
    path = repo(tmp_path, EMPTY)
    code, console, report, summary = run(path, "upload")
    assert code == 0 and report["status"] == "success" and report["exit_code"] == 0
    stages = {s["name"]: s for s in report["stages"]}  # type: ignore[union-attr]
    assert list(stages) == ["build", "package", "upload"]
    for stage in stages.values():
        assert stage["status"] == "skipped" and stage["reason"] == "no providers", stage
        assert stage["providers"] == []
    assert "build skipped (no providers)" in console  # the line as the stage ends
    assert "upload    skipped (no providers)" in console  # the final table
    assert "skipped (no providers)" in summary.read_text()
    events = [
        json.loads(line) for line in (path / "dist" / "gopipe" / "events.jsonl").read_text().splitlines()
    ]
    finished = [e for e in events if "stage_finished" in (e.get("event"), e.get("type"))]
    assert len(finished) == 3 and {e.get("reason") for e in finished} == {"no providers"}


def test_a_stage_skipped_for_a_failure_still_blocks_and_fails(tmp_path: Path) -> None:
    # a missing package breaks build; what needs build is skipped because of it, with no reason
    path = repo(
        tmp_path,
        '[tool.gopipe]\nmain = ["./cmd/missing"]\ntargets = ["linux/amd64"]\n'
        "[tool.gopipe.package]\nproviders = []\n",
    )
    code, _, report, _ = run(path, "package")
    stages = {s["name"]: s for s in report["stages"]}  # type: ignore[union-attr]
    assert stages["build"]["status"] == "failed"
    assert stages["package"]["status"] == "skipped" and "reason" not in stages["package"]
    assert stages["package"]["error"] == "skipped: build failed"
    assert code != 0


def test_ranking_and_exit_codes() -> None:
    empty = StageResult("upload", "skipped", reason=NO_PROVIDERS)
    blocked = StageResult("upload", "skipped", error="skipped: package failed")
    assert empty.passed and not blocked.passed
    assert empty.label == "skipped (no providers)" and blocked.label == "skipped"
    assert run_status(["skipped", "skipped"]) == "success"
    assert run_status(["skipped", "failed"]) == "failed"


def test_merge_keeps_the_reason_only_when_every_part_agrees() -> None:
    empty = {"name": "upload", "status": "skipped", "reason": NO_PROVIDERS, "providers": []}
    ran = {"name": "upload", "status": "success", "providers": []}
    assert merge_stage("upload", [("a", empty), ("b", dict(empty))]).label == "skipped (no providers)"
    assert merge_stage("upload", [("a", empty), ("b", ran)]).label == "success"
