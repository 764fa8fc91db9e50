"""Folding the test stage's outputs of several shards into one: JUnit suites, cover profiles
and the recorded package timings that balance the next split.

``gopipe merge`` calls these through the ``gopipe_mergers`` hook (registered by
:mod:`gopipe_plugins.test.gotest`); the shard bookkeeping is in :mod:`.shards`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from xml.etree import ElementTree as ET

from gopipe.types import MergeInput, MergeOutput
from gopipe_plugins._common.coverprofile import merge_profiles, parse_profile
from gopipe_plugins.test.shards import merge_timings


def merge_junit(files: Iterable[Path]) -> tuple[str, dict[str, int]]:
    """One ``<testsuites>`` holding every suite; returns the XML and its totals.

    The suites keep everything the shards wrote (positions, output, timestamps). The shards
    ran side by side, so the merged ``time`` is the longest shard's and ``timestamp`` the
    earliest; ``hostname`` lists the shards' hosts.
    """
    root = ET.Element("testsuites")
    suites: list[ET.Element] = []
    times: list[float] = []
    stamps: list[str] = []
    hosts: list[str] = []
    for path in files:
        part = ET.parse(path).getroot()
        suites.extend(part.iter("testsuite"))
        if part.tag == "testsuites":
            times.append(_seconds(part.get("time")))
            stamps += [part.get("timestamp", "")]
            hosts += [part.get("hostname", "")]
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in sorted(suites, key=lambda s: s.get("name", "")):
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0") or 0)
        stamps.append(suite.get("timestamp", ""))
        hosts.append(suite.get("hostname", ""))
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{max(times, default=sum(_seconds(s.get('time')) for s in suites)):.3f}")
    if any(stamps):
        root.set("timestamp", min(s for s in stamps if s))  # ISO 8601 in UTC sorts as time
    if any(hosts):
        root.set("hostname", ",".join(dict.fromkeys(h for h in hosts if h)))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n", totals


def _seconds(text: str | None) -> float:
    try:
        return float((text or "0").replace(",", ""))
    except ValueError:
        return 0.0


def fold_junit(inp: MergeInput) -> MergeOutput:
    """``junit.xml``: every shard's suites, totals recomputed, and the test stage's summary."""
    try:
        text, totals = merge_junit(inp.paths())
    except ET.ParseError as exc:
        return MergeOutput(problems=[f"unreadable JUnit XML in a part: {exc}"])
    junit = inp.out / "junit.xml"
    junit.write_text(text, encoding="utf-8")
    merge_timings(inp.parts.values(), inp.out)
    shards = len({f.part for f in inp.files})
    bad = sum(totals[k] for k in ("failures", "errors", "skipped"))
    summary = f"{totals['tests'] - bad}/{totals['tests']} tests passed" + (
        f" across {shards} shards" if shards > 1 else ""
    )
    return MergeOutput(artifacts=[inp.record("junit", junit, **totals)], summary=summary)


def fold_profiles(inp: MergeInput) -> MergeOutput:
    """``coverage.out``: blocks merged per mode (``atomic``/``count`` summed, ``set`` max)."""
    try:
        profile = merge_profiles(parse_profile(path.read_text()) for path in inp.paths())
    except ValueError as exc:
        return MergeOutput(problems=[f"cannot merge coverage profiles: {exc}"])
    out = inp.out / "coverage.out"
    profile.write(out)
    parts = len(inp.paths())
    return MergeOutput(artifacts=[inp.record("coverage-profile", out, mode=profile.mode, parts=parts)])


def fold_test_streams(inp: MergeInput) -> MergeOutput:
    """``test.json``: the shards' ``go test -json`` streams one after the other (each event
    names its package, so readers such as gotestsum take the joined stream as one run)."""
    out = inp.out / "test.json"
    with out.open("w", encoding="utf-8") as merged:
        for path in inp.paths():
            text = path.read_text(encoding="utf-8", errors="replace")
            merged.write(text if not text or text.endswith("\n") else text + "\n")
    return MergeOutput(artifacts=[inp.record("test-json", out, parts=len(inp.paths()))])
