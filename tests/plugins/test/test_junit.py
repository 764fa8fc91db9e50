"""junit.xml and test.json from a recorded ``go test -json`` stream, read by junitparser and
checked against the (hand-written, see tests/plugins/consumers.py) Surefire-format XSD.

The stream is what ``go test -json -count=1 ./...`` printed for tests/fixtures/gomod/reports;
the test positions come from that module's real ``_test.go`` files. All fast, no Go.
"""

from __future__ import annotations

import io
import json
import secrets as random_tokens
from pathlib import Path
from xml.etree import ElementTree as ET

from junitparser import Attr, Error, Failure, IntAttr, JUnitXml, Skipped, TestCase, TestSuite
from tests.plugins.consumers import junit_schema_errors, official_surefire_xsd

from gopipe.secrets import MASK, Redactor
from gopipe.stages import Stage
from gopipe.types import MergeInput, PartFile
from gopipe_plugins.test.gotest import TestEvents, junit_xml
from gopipe_plugins.test.merge import fold_test_streams, merge_junit
from gopipe_plugins.test.positions import TestPositions

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
STREAM = FIXTURES / "gotest" / "reports.jsonl"
MODULE = FIXTURES / "gomod" / "reports"
PACKAGE = "example.com/reports/calc"
# junitparser's documented way to read attributes beyond its own, as the GitHub reporters read them
TestCase.file = Attr("file")
TestCase.line = IntAttr("line")


def fold(lines: list[str], redact: Redactor | None = None, raw: io.StringIO | None = None) -> TestEvents:
    events = TestEvents(redact or Redactor(), raw=raw)
    for line in lines:
        events.feed(line)
    events.finish()
    return events


def recorded_junit(tmp_path: Path) -> Path:
    """The fixture stream as junit.xml, with the module in ``services/reports`` of a repo."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    module = repo / "services" / "reports"
    (module / "calc").mkdir(parents=True)
    for test_file in (MODULE / "calc").glob("*_test.go"):
        (module / "calc" / test_file.name).write_text(test_file.read_text())
    positions = TestPositions({PACKAGE: module / "calc"}, module, repo)
    path = tmp_path / "junit.xml"
    path.write_text(junit_xml(fold(STREAM.read_text().splitlines(True)), locate=positions, hostname="ci-7"))
    return path


def cases(path: Path) -> dict[str, TestCase]:
    xml = JUnitXml.fromfile(str(path))
    return {case.name: case for suite in xml for case in suite}


def test_junitparser_reads_what_go_test_reported(tmp_path: Path) -> None:
    path = recorded_junit(tmp_path)
    assert junit_schema_errors(path) == []
    xml = JUnitXml.fromfile(str(path))
    (suite,) = list(xml)
    assert isinstance(suite, TestSuite) and suite.name == PACKAGE
    by_name = {case.name: case for case in suite}
    # go test's own verdicts, from the stream
    verdicts = {}
    for line in STREAM.read_text().splitlines():
        event = json.loads(line)
        if event.get("Test") and event["Action"] in ("pass", "fail", "skip"):
            verdicts[event["Test"]] = event["Action"]
    assert set(by_name) == set(verdicts)
    kinds = {Failure: "fail", Skipped: "skip", Error: "error"}
    got = {name: next((kinds[type(r)] for r in case.result), "pass") for name, case in by_name.items()}
    assert got == verdicts
    # a failing subtest fails its parent: both are failures, counted as go test counts them
    assert got["TestHalfOdd"] == got["TestHalfOdd/odd"] == "fail" and got["TestHalfOdd/even"] == "pass"
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (
        len(verdicts),
        list(verdicts.values()).count("fail"),
        0,
        list(verdicts.values()).count("skip"),
    )
    assert (xml.tests, xml.failures, xml.skipped) == (suite.tests, suite.failures, suite.skipped)


def test_the_official_surefire_xsd_takes_each_suite_and_rejects_more(tmp_path: Path) -> None:
    """Surefire's own schema accepts every suite gopipe writes, with only the documented
    extensions set aside, and still refuses what Surefire's format does not have."""
    assert official_surefire_xsd().read_text().count('name="testsuite"') == 1
    path = recorded_junit(tmp_path)
    assert junit_schema_errors(path) == []
    text = path.read_text()
    broken = tmp_path / "broken.xml"
    broken.write_text(text.replace("<testcase classname=", '<testcase shard="1" classname=', 1))
    errors = junit_schema_errors(broken)
    assert any("official Surefire XSD" in e and "'shard'" in e for e in errors), errors
    untimed = tmp_path / "untimed.xml"
    untimed.write_text(text.replace(' time="0.000" file=', " file=", 1))
    assert any(
        "official Surefire XSD" in e and "'time' is required" in e for e in junit_schema_errors(untimed)
    )


def test_cases_carry_position_output_and_reasons(tmp_path: Path) -> None:
    by_name = cases(recorded_junit(tmp_path))
    failing = "services/reports/calc/failing_test.go"
    assert (by_name["TestSubFails"].file, by_name["TestSubFails"].line) == (failing, 5)
    # subtests point at the function they run in
    assert {(by_name[n].file, by_name[n].line) for n in ("TestHalfOdd", "TestHalfOdd/odd")} == {(failing, 11)}
    assert (by_name["TestAdd"].file, by_name["TestAdd"].line) == ("services/reports/calc/calc_test.go", 9)
    (skip,) = by_name["TestSkipped"].result
    assert isinstance(skip, Skipped) and skip.message == "needs a database"
    (failure,) = by_name["TestSubFails"].result
    assert isinstance(failure, Failure) and failure.message == "failing_test.go:7: Sub(5, 3) = 2, want 3"
    (parent,) = by_name["TestHalfOdd"].result
    assert parent.message == "subtest failed: TestHalfOdd/odd"
    assert by_name["TestAdd"].system_out is not None and "adding 2 and 3" in by_name["TestAdd"].system_out
    assert "=== RUN" not in by_name["TestAdd"].system_out  # go test's framing is not output


def test_suites_and_root_carry_timestamp_hostname_and_time(tmp_path: Path) -> None:
    root = ET.parse(recorded_junit(tmp_path)).getroot()
    first = json.loads(STREAM.read_text().splitlines()[0])
    for element in (root, root.find("testsuite")):
        assert element is not None
        assert element.get("hostname") == "ci-7"
        assert element.get("timestamp") == first["Time"][:19] + "+00:00"
        assert float(element.get("time", "-1")) > 0


def test_merged_shards_stay_valid_and_keep_positions(tmp_path: Path) -> None:
    one = recorded_junit(tmp_path / "1")
    two = tmp_path / "2.xml"
    two.write_text(
        junit_xml(
            fold(
                [
                    json.dumps({"Time": "2026-01-02T03:00:00Z", "Action": "start", "Package": "ex.com/a"}),
                    json.dumps({"Time": "2026-01-02T03:00:09.5Z", "Action": "pass", "Package": "ex.com/a"}),
                ]
            ),
            hostname="ci-8",
        )
    )
    text, totals = merge_junit([one, two])
    merged = tmp_path / "merged.xml"
    merged.write_text(text)
    assert junit_schema_errors(merged) == []
    root = ET.parse(merged).getroot()
    assert root.get("timestamp") == "2026-01-02T03:00:00+00:00" and root.get("hostname") == "ci-7,ci-8"
    assert float(root.get("time", "0")) == 9.5  # the longer shard: shards run side by side
    assert cases(merged)["TestSubFails"].file == "services/reports/calc/failing_test.go"
    assert totals["tests"] == len(cases(one))


def test_control_characters_in_output_do_not_break_the_file(tmp_path: Path) -> None:
    events = [
        {"Action": "run", "Package": "ex.com/p", "Test": "TestColour"},
        {"Action": "output", "Package": "ex.com/p", "Test": "TestColour", "Output": "\x1b[31mred\x1b[0m\x00"},
        {"Action": "fail", "Package": "ex.com/p", "Test": "TestColour", "Elapsed": 0},
        {"Action": "fail", "Package": "ex.com/p", "Elapsed": 0},
    ]
    path = tmp_path / "junit.xml"
    path.write_text(junit_xml(fold([json.dumps(e) for e in events])))
    assert junit_schema_errors(path) == []
    assert "\\x1b[31mred" in (cases(path)["TestColour"].system_out or "")


def test_stream_keeps_every_event_with_secrets_masked_in_whole_lines() -> None:
    secret = 'p"w\\' + random_tokens.token_urlsafe(18)  # JSON escapes the quote and backslash
    redactor = Redactor()
    redactor.add(secret)
    line = "a" * 1020 + secret + "b" * 2000 + "\n"
    chunks = [line[i : i + 1024] for i in range(0, len(line), 1024)]  # go test's 1 KiB chunks
    events = [{"Action": "run", "Package": "ex.com/leak", "Test": "TestLeak"}]
    test = {"Package": "ex.com/leak", "Test": "TestLeak"}
    events += [{"Action": "output", **test, "Output": c} for c in chunks]
    events += [
        {"Action": "output", **test, "Output": "two\nlines\ntail " + secret[:5]},
        {"Action": "fail", "Package": "ex.com/leak", "Test": "TestLeak", "Elapsed": 0.1},
        {"Action": "output", "Package": "ex.com/leak", "Output": "FAIL\n"},
        {"Action": "fail", "Package": "ex.com/leak", "Elapsed": 0.2},
    ]
    raw = io.StringIO()
    fold([json.dumps(e) + "\n" for e in events] + ["not json " + secret + "\n"], redactor, raw)
    text = raw.getvalue()
    assert secret not in text and json.dumps(secret)[1:-1] not in text
    assert secret[4:20] not in text  # no unmasked piece either
    written = [json.loads(line) for line in text.splitlines()[:-1]]
    outputs = [e["Output"] for e in written if e["Action"] == "output"]
    assert outputs[0] == "a" * 1020 + MASK + "b" * 2000 + "\n"  # the chunks are one line again
    assert outputs[1:3] == ["two\n", "lines\n"]  # one event per line, as go test writes them
    assert outputs[3] == "tail " + secret[:5]  # an unfinished line, written when its test ended
    assert [e["Action"] for e in written] == ["run"] + ["output"] * 4 + ["fail", "output", "fail"]
    assert text.splitlines()[-1] == "not json " + MASK


def test_merged_streams_hold_every_shards_events(tmp_path: Path) -> None:
    lines = STREAM.read_text().splitlines(True)
    parts = {"shard-1": lines[:10], "shard-2": lines[10:]}
    files = []
    for label, part in parts.items():
        path = tmp_path / label / "test.json"
        path.parent.mkdir()
        path.write_text("".join(part).rstrip("\n"))  # a stream cut off without its last newline
        files.append(PartFile(label, {"kind": "test-json", "path": "dist/gopipe/test.json"}, path))
    out = tmp_path / "dist" / "gopipe"
    out.mkdir(parents=True)
    inp = MergeInput(files, {k: tmp_path / k for k in parts}, out, lambda f: "unused", tmp_path, Stage.TEST)
    result = fold_test_streams(inp)
    assert (out / "test.json").read_text() == "".join(lines)
    (artifact,) = result.artifacts
    assert (artifact.kind, artifact.extra["parts"]) == ("test-json", 2)
    assert artifact.path == "dist/gopipe/test.json"
