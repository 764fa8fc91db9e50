"""The file merges `gopipe merge` is built from, on small hand-made inputs."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

from gopipe_plugins._common.coverprofile import merge_profiles, parse_profile
from gopipe_plugins.lint.sarif import merge_sarif
from gopipe_plugins.test.merge import merge_junit

PROFILE = "mode: {mode}\nex.com/m/a.go:1.1,2.2 2 {a}\nex.com/m/a.go:3.1,4.2 1 {b}\n"


def test_atomic_and_count_profiles_add_up_set_takes_the_max() -> None:
    for mode in ("atomic", "count"):
        merged = merge_profiles(
            [
                parse_profile(PROFILE.format(mode=mode, a=3, b=0)),
                parse_profile(PROFILE.format(mode=mode, a=4, b=1)),
            ]
        )
        assert [c for _, c in sorted(merged.blocks.values())] == [1, 7]
    merged = merge_profiles(
        [
            parse_profile(PROFILE.format(mode="set", a=1, b=0)),
            parse_profile(PROFILE.format(mode="set", a=1, b=1)),
        ]
    )
    assert sorted(merged.blocks.values()) == [(1, 1), (2, 1)]


def test_junit_suites_are_combined_and_totals_recomputed(tmp_path: Path) -> None:
    one = tmp_path / "1.xml"
    two = tmp_path / "2.xml"
    one.write_text(
        '<testsuites tests="2"><testsuite name="b" tests="2" failures="1" errors="0" '
        'skipped="0"><testcase name="T1"/><testcase name="T2"><failure/></testcase>'
        "</testsuite></testsuites>"
    )
    two.write_text(
        '<testsuites tests="1"><testsuite name="a" tests="1" failures="0" errors="0" '
        'skipped="1"><testcase name="T3"><skipped/></testcase></testsuite></testsuites>'
    )
    text, totals = merge_junit([one, two])
    assert totals == {"tests": 3, "failures": 1, "errors": 0, "skipped": 1}
    root = ET.fromstring(text.split("?>", 1)[1])
    assert [s.get("name") for s in root] == ["a", "b"] and root.get("tests") == "3"


def test_sarif_runs_are_grouped_by_tool(tmp_path: Path) -> None:
    def log(tool: str, rule: str, msg: str) -> dict[str, object]:
        return {
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {"driver": {"name": tool, "rules": [{"id": rule}]}},
                    "results": [{"ruleId": rule, "message": {"text": msg}}],
                }
            ],
        }

    files = []
    for i, (tool, rule, msg) in enumerate(
        [("govet", "printf", "x"), ("gofmt", "fmt", "y"), ("govet", "shadow", "z"), ("govet", "printf", "x")]
    ):
        path = tmp_path / f"{i}.sarif"
        path.write_text(json.dumps(log(tool, rule, msg)))
        files.append(path)
    merged = merge_sarif(json.loads(p.read_text()) for p in files)
    assert [r["tool"]["driver"]["name"] for r in merged["runs"]] == ["gofmt", "govet"]
    govet = merged["runs"][1]
    assert [r["id"] for r in govet["tool"]["driver"]["rules"]] == ["printf", "shadow"]
    assert len(govet["results"]) == 2  # the duplicate result from a repeated part is dropped
