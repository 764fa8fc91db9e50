"""Every run starts by removing the previous run's stage outputs from ``dist/gopipe``, and
only those: the stage cache, the run lock and files kept on purpose stay; a cached stage
gets its files back."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from gopipe.outputs import previous_outputs, remove_previous_outputs
from gopipe.testing import RunResult


def write_report(out: Path, paths: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    artifacts = [{"kind": "x", "name": p, "path": p} for p in paths]
    (out / "report.json").write_text(json.dumps({"artifacts": artifacts}))


def test_only_what_the_previous_report_lists_inside_dist_gopipe(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    out = root / "dist" / "gopipe"
    (out / "logs").mkdir(parents=True)
    (out / "cache").mkdir()
    for name in ("coverage.xml", "junit.xml", "test-timings.json", "mine.txt", "cache/test.json", ".lock"):
        (out / name).write_text("x")
    (root / "dist" / "app_linux_amd64").mkdir()
    (root / "dist" / "app_linux_amd64" / "app").write_text("binary")
    (root / "src.go").write_text("package main")
    write_report(
        out,
        [
            "dist/gopipe/coverage.xml",
            "dist/gopipe/junit.xml",
            "dist/gopipe/cache/test.json",  # never the cache
            "dist/gopipe/.lock",
            "dist/app_linux_amd64/app",  # binaries are not in dist/gopipe
            "src.go",
            "../outside.txt",
            "/etc/passwd",
            "dist/gopipe",
        ],
    )
    removed = remove_previous_outputs(out, root)
    names = sorted(str(p.relative_to(out.resolve())) for p in removed)
    assert names == ["coverage.xml", "junit.xml", "logs", "report.json"]
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert left == [".lock", "cache", "cache/test.json", "mine.txt", "test-timings.json"]
    assert (root / "dist" / "app_linux_amd64" / "app").is_file() and (root / "src.go").is_file()


def test_a_symlink_is_removed_never_followed(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    out = root / "dist" / "gopipe"
    out.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    (out / "logs").symlink_to(outside)  # a link where the logs were
    (out / "coverage.xml").symlink_to(outside / "keep.txt")
    write_report(out, ["dist/gopipe/coverage.xml", "dist/gopipe/logs/keep.txt"])
    assert (out / "logs" / "keep.txt").resolve() not in previous_outputs(out, root)
    remove_previous_outputs(out, root)
    assert not (out / "logs").is_symlink() and not (out / "coverage.xml").is_symlink()
    assert (outside / "keep.txt").read_text() == "keep"


def test_no_report_no_artifacts_removed(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    out = root / "dist" / "gopipe"
    out.mkdir(parents=True)
    (out / "coverage.xml").write_text("x")
    (out / "report.json").write_text("{not json")
    remove_previous_outputs(out, root)
    assert (out / "coverage.xml").is_file() and not (out / "report.json").exists()


@pytest.mark.slow
def test_a_skipped_stage_leaves_no_stale_output(
    hello_repo: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    out = hello_repo / "dist" / "gopipe"
    first = gopipe_run(hello_repo, "ci")
    assert first.exit_code == 0, json.dumps(first.report, indent=1)
    assert (out / "coverage.xml").is_file()
    (out / "test-timings.json").write_text('{"restored": 1.0}\n')  # as CI restores it before a run
    greet = hello_repo / "internal" / "greet" / "greet_test.go"
    broken = 'func TestGreeting(t *testing.T) {\n\tt.Fatal("broken")'
    greet.write_text(greet.read_text().replace("func TestGreeting(t *testing.T) {", broken))
    second = gopipe_run(hello_repo, "ci")
    assert second.exit_code == 1
    assert second.stage("coverage")["status"] == "skipped"
    for stale in ("coverage.xml", "coverage.html", "coverage.md"):
        assert not (out / stale).exists(), stale
    assert (out / "junit.xml").is_file()  # this run's own
    assert (out / "cache" / "build.json").is_file()  # the stage cache stays
    assert "restored" in (out / "test-timings.json").read_text()


@pytest.mark.slow
def test_a_cached_rerun_gets_its_files_back(hello_repo: Path, gopipe_run: Callable[..., RunResult]) -> None:
    out = hello_repo / "dist" / "gopipe"
    first = gopipe_run(hello_repo, "test", "coverage")
    assert first.exit_code == 0, json.dumps(first.report, indent=1)
    before = {name: (out / name).read_bytes() for name in ("junit.xml", "coverage.xml", "coverage.html")}
    second = gopipe_run(hello_repo, "test", "coverage")
    assert second.exit_code == 0
    assert second.stage("test")["cached"] and second.stage("coverage")["cached"]
    assert {name: (out / name).read_bytes() for name in before} == before
