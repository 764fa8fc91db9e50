"""Sharded test runs of a real Go module, merged with `gopipe merge`, equal one unsharded
run: the same test cases with the same outcomes, the same failures, the same coverage
(block by block, counts included, since atomic counts must add up across shards)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from gopipe.cli import main
from gopipe_plugins._common.coverprofile import Profile, parse_profile, summarise
from gopipe_plugins.test.shards import split

pytestmark = pytest.mark.slow

PACKAGES = 7  # go list ./... in tests/fixtures/gomod/multi


def run(repo: Path, *args: str) -> int:
    return main(["run", *args, "-C", str(repo), "--plain", "--no-notify"])


def merge(repo: Path, *inputs: Path) -> int:
    return main(["merge", *map(str, inputs), "-C", str(repo), "--plain", "--no-notify"])


def take_output(repo: Path, into: Path, *, whole_dist: bool = False) -> Path:
    """Move a run's output away, as upload-artifact does on a runner; next run starts clean."""
    into.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(repo / "dist" if whole_dist else repo / "dist" / "gopipe", into)
    shutil.rmtree(repo / "dist", ignore_errors=True)
    return into


def run_shards(repo: Path, n: int, parts: Path) -> list[int]:
    shutil.rmtree(repo / "dist", ignore_errors=True)
    codes = []
    for i in range(1, n + 1):
        codes.append(run(repo, "test", "--shard", f"{i}/{n}"))
        take_output(repo, parts / f"shard-{i}")
    return codes


def cases(junit: Path) -> dict[tuple[str, str], str]:
    """(package, test) -> pass | failure | error | skipped."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        status = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "pass")
        out[(case.get("classname", ""), case.get("name", ""))] = status
    return out


def profile(out: Path) -> Profile:
    return parse_profile((out / "coverage.out").read_text())


def report(out: Path) -> dict[str, Any]:
    data = json.loads((out / "report.json").read_text())
    assert isinstance(data, dict)
    return data


def stage(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in data["stages"] if s["name"] == name)


def reference(repo: Path, tmp: Path) -> tuple[int, Path]:
    code = run(repo, "coverage")
    return code, take_output(repo, tmp / "unsharded")


def assert_same_as_unsharded(merged: Path, ref: Path) -> None:
    assert cases(merged / "junit.xml") == cases(ref / "junit.xml")
    got, want = profile(merged), profile(ref)
    assert got.mode == want.mode == "atomic"
    assert got.blocks == want.blocks  # counts included: overlapping coverage was summed
    a, b = summarise(got).total, summarise(want).total
    assert abs(a.percent - b.percent) < 0.1 and (a.statements, a.covered) == (b.statements, b.covered)
    # providers run concurrently, so their summaries join in either order
    summaries = [set(stage(report(o), "coverage")["summary"].split("; ")) for o in (merged, ref)]
    assert summaries[0] == summaries[1]


@pytest.mark.parametrize("shards", [2, 3])
def test_sharded_runs_merge_to_the_unsharded_run(multi_repo: Path, tmp_path: Path, shards: int) -> None:
    code, ref = reference(multi_repo, tmp_path)
    assert code == 0
    assert run_shards(multi_repo, shards, tmp_path / "parts") == [0] * shards
    assert merge(multi_repo, tmp_path / "parts") == 0
    out = multi_repo / "dist" / "gopipe"
    assert_same_as_unsharded(out, ref)
    merged = report(out)
    assert merged["status"] == "success" and merged["exit_code"] == 0
    assert stage(merged, "test")["summary"] == f"8/9 tests passed across {shards} shards"
    assert (out / "coverage.xml").is_file()  # the coverage stage ran on the merged profile
    shard_packages = [
        p for a in merged["artifacts"] if a["kind"] == "test-shard" for p in a["extra"]["packages"]
    ]
    assert sorted(shard_packages) == sorted(set(shard_packages)) and len(shard_packages) == PACKAGES
    assert sorted(p.name for p in (out / "parts").iterdir()) == [f"shard-{i}" for i in range(1, shards + 1)]
    # The merged timings cover every package and balance the next sharded run.
    timings = json.loads((out / "test-timings.json").read_text())
    assert len(timings) == PACKAGES
    shutil.move(out, tmp_path / "merged")
    (out).mkdir(parents=True)
    shutil.copy(tmp_path / "merged" / "test-timings.json", out / "test-timings.json")
    assert run(multi_repo, "test", "--shard", f"1/{shards}") == 0
    shard = next(a for a in report(out)["artifacts"] if a["kind"] == "test-shard")
    assert shard["extra"]["balanced_by"] == "timings"
    assert json.loads((out / "test-timings.json").read_text()) == timings  # input left alone


def test_failures_merge_like_the_unsharded_run(
    multi_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTI_FAIL", "1")
    code, ref = reference(multi_repo, tmp_path)
    assert code == 1
    codes = run_shards(multi_repo, 2, tmp_path / "parts")
    assert sorted(codes) == [0, 1]  # TestTitle fails in exactly one shard
    assert merge(multi_repo, *sorted((tmp_path / "parts").iterdir())) == 1
    out = multi_repo / "dist" / "gopipe"
    merged, unsharded = report(out), report(ref)
    failed = {k for k, v in cases(out / "junit.xml").items() if v == "failure"}
    assert failed == {k for k, v in cases(ref / "junit.xml").items() if v == "failure"}
    assert failed == {("example.com/multi/internal/strutil", "TestTitle")}
    assert cases(out / "junit.xml") == cases(ref / "junit.xml")
    assert stage(merged, "test")["status"] == stage(unsharded, "test")["status"] == "failed"
    assert "TestTitle" in stage(merged, "test")["error"]
    assert stage(merged, "coverage")["status"] == stage(unsharded, "coverage")["status"] == "skipped"


def test_more_shards_than_packages(multi_repo: Path, tmp_path: Path) -> None:
    code, ref = reference(multi_repo, tmp_path)
    assert code == 0
    n = PACKAGES + 2
    assert run_shards(multi_repo, n, tmp_path / "parts") == [0] * n
    empty = [
        report(p)
        for p in sorted((tmp_path / "parts").iterdir())
        if stage(report(p), "test")["summary"] == "empty shard: no packages"
    ]
    assert len(empty) == 2
    assert merge(multi_repo, tmp_path / "parts") == 0
    assert_same_as_unsharded(multi_repo / "dist" / "gopipe", ref)


def test_merge_refuses_incomplete_or_inconsistent_shards(
    multi_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parts = tmp_path / "parts"
    assert run_shards(multi_repo, 2, parts) == [0, 0]
    assert merge(multi_repo, parts / "shard-1") == 1
    assert "missing shard output: 2/2" in stage(report(multi_repo / "dist" / "gopipe"), "test")["error"]

    tampered = report(parts / "shard-2")
    for a in tampered["artifacts"]:
        if a["kind"] == "test-shard":
            a["extra"]["split"] = "0" * 16
    (parts / "shard-2" / "report.json").write_text(json.dumps(tampered))
    assert merge(multi_repo, parts) == 1
    assert "computed different splits" in capsys.readouterr().out

    tampered["git"]["sha"] = "f" * 40
    (parts / "shard-2" / "report.json").write_text(json.dumps(tampered))
    assert merge(multi_repo, parts) == 2
    assert "different commits" in capsys.readouterr().err
    assert merge(multi_repo, tmp_path / "nowhere") == 2


def test_fan_out_ci_merges_lint_tests_and_build_matrix(multi_repo: Path, tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    assert run(multi_repo, "lint") == 0
    take_output(multi_repo, parts / "lint")
    assert run_shards(multi_repo, 2, parts) == [0, 0]
    for target in ("linux/amd64", "linux/arm64"):
        assert run(multi_repo, "build", "--target", target) == 0
        take_output(multi_repo, parts / f"build-{target.replace('/', '-')}", whole_dist=True)
    assert merge(multi_repo, parts) == 0
    out = multi_repo / "dist" / "gopipe"
    merged = report(out)
    assert merged["pipeline"] == "ci"
    # the order of an unsharded run of the same pipeline (the plan order)
    assert [s["name"] for s in merged["stages"]] == ["lint", "test", "coverage", "build"]
    assert {s["status"] for s in merged["stages"]} == {"success"}
    assert stage(merged, "build")["summary"] == "4 binaries for 2 targets"
    binaries = [a for a in merged["artifacts"] if a["kind"] == "binary"]
    assert sorted(a["path"] for a in binaries) == [
        "dist/api_linux_amd64/api",
        "dist/api_linux_arm64/api",
        "dist/worker_linux_amd64/worker",
        "dist/worker_linux_arm64/worker",
    ]
    assert all((multi_repo / a["path"]).is_file() for a in binaries)
    assert json.loads((out / "lint.sarif").read_text())["version"] == "2.1.0"

    # The coverage threshold applies to the merged profile.
    text = (multi_repo / "pyproject.toml").read_text().replace("total = 50", "total = 99")
    (multi_repo / "pyproject.toml").write_text(text)
    assert merge(multi_repo, parts) == 1
    coverage = stage(report(out), "coverage")
    assert coverage["status"] == "failed" and "below the threshold 99%" in coverage["error"]

    # A binary that does not match its recorded sha256 fails the merged build stage.
    (parts / "build-linux-arm64" / "api_linux_arm64" / "api").write_bytes(b"tampered")
    assert merge(multi_repo, parts) == 1
    assert "does not match its sha256" in stage(report(out), "build")["error"]


def test_split_is_deterministic_balanced_and_complete() -> None:
    packages = [f"example.com/m/p{i:02d}" for i in range(10)]
    shards = split(packages, 3)
    assert shards == split(list(reversed(packages)), 3)
    assert sorted(p for s in shards for p in s) == packages
    assert sorted(len(s) for s in shards) == [3, 3, 4]
    timings = {p: 10.0 if p.endswith("00") else 1.0 for p in packages}
    heavy = split(packages, 2, timings)
    assert sorted(heavy, key=len) == [["example.com/m/p00"], packages[1:]]
    assert split(packages[:2], 4)[2:] == [[], []]
    untested = frozenset(packages[5:])
    # untested packages weigh a tenth: they fill the lighter shard instead of counting as one each
    assert sorted(len(s) for s in split(packages, 2, None, untested)) == [3, 7]
