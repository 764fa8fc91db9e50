"""The stage cache: an unchanged rerun restores results; any input change reruns."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gopipe.testing import RunResult

pytestmark = pytest.mark.slow  # real Go runs, twice


def cached(result: RunResult) -> dict[str, bool]:
    return {s["name"]: s["cached"] for s in result.report["stages"]}


def test_noop_rerun_hits_the_cache_and_edits_miss(
    hello_repo: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    first = gopipe_run(hello_repo, "ci")
    assert first.exit_code == 0 and not any(cached(first).values())
    again = gopipe_run(hello_repo, "ci")
    assert again.exit_code == 0
    assert cached(again) == {"lint": True, "test": True, "coverage": True, "build": True}

    def key(a: dict[str, str]) -> str:
        return f"{a['kind']} {a['name']} {a.get('path')} {a.get('sha256')}"

    def stage_artifacts(result: RunResult) -> list[str]:
        return sorted(key(a) for a in result.report["artifacts"] if a.get("stage"))

    assert stage_artifacts(again) == stage_artifacts(first)
    assert [s["inputs"] for s in again.report["stages"]] == [s["inputs"] for s in first.report["stages"]]
    assert (hello_repo / "dist/gopipe/lint.sarif").is_file()

    # a source edit changes every stage's inputs (coverage through its dependency on test)
    greet = hello_repo / "internal/greet/greet.go"
    greet.write_text(greet.read_text() + "\n// Edited.\nconst Edited = true\n")
    edited = gopipe_run(hello_repo, "ci")
    assert edited.exit_code == 0 and not any(cached(edited).values())

    # a missing output invalidates only the stage that made it
    binary = next(a["path"] for a in edited.report["artifacts"] if a["kind"] == "binary")
    (hello_repo / binary).unlink()
    rebuilt = gopipe_run(hello_repo, "ci")
    assert cached(rebuilt) == {"lint": True, "test": True, "coverage": True, "build": False}
    assert (hello_repo / binary).is_file()

    # --no-cache runs everything
    forced = gopipe_run(hello_repo, "ci", "--no-cache")
    assert not any(cached(forced).values())


def test_failures_are_not_cached(hello_repo: Path, gopipe_run: Callable[..., RunResult]) -> None:
    config = hello_repo / "pyproject.toml"
    config.write_text(config.read_text().replace("total = 40", "total = 99"))
    assert gopipe_run(hello_repo, "ci").exit_code == 1
    second = gopipe_run(hello_repo, "ci")
    assert second.exit_code == 1
    assert second.stage("coverage")["cached"] is False
    assert second.stage("coverage")["status"] == "failed"
