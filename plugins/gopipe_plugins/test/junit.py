"""JUnit XML (``dist/gopipe/junit.xml``) from the folded ``go test -json`` events.

Written for what reads it on GitHub and elsewhere (dorny/test-reporter,
mikepenz/action-junit-report, EnricoMi/publish-unit-test-result-action, Jenkins, GitLab):

- one ``<testsuite>`` per package, one ``<testcase>`` per test and per subtest, counted as
  ``go test`` counts them: a failing subtest fails its parent, so both are failures;
- ``file`` and ``line`` on each test case (where the test function is declared, see
  :mod:`gopipe_plugins.test.positions`), ``system-out`` with what the test printed;
- ``timestamp``, ``hostname`` and ``time`` on each suite and on ``<testsuites>``;
- ``<skipped message="…">`` with the reason given to ``t.Skip``;
- nothing XML 1.0 forbids: test output may hold control characters (colour codes), which
  would make the whole file unreadable, so they are written as ``\\x1b``-style escapes.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

if TYPE_CHECKING:
    from gopipe_plugins.test.gotest import TestEvents, _Package, _Test

Locate = Callable[[str, str], tuple[str, int] | None]

# "    file_test.go:12: message": what t.Error, t.Log and t.Skip print.
_LOG_LINE = re.compile(r"^\s+(?P<file>[\w./-]+\.go):(?P<line>\d+): ?(?P<text>.*)$")
# go test's own lines around a test's output.
_FRAMING = re.compile(r"^\s*(?:=== (?:RUN|PAUSE|CONT|NAME)\b|--- (?:PASS|FAIL|SKIP): )")
# Characters XML 1.0 does not allow, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_GO_TIME = re.compile(r"^(?P<s>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<f>\d+))?(?P<tz>Z|[+-]\d\d:\d\d)$")
MESSAGE_CHARS = 500


def junit_xml(
    events: TestEvents,
    *,
    locate: Locate | None = None,
    hostname: str | None = None,
) -> str:
    """The JUnit document for ``events``; ``locate(package, test)`` gives ``(file, line)``."""
    host = hostname if hostname is not None else socket.gethostname()
    suites = ET.Element("testsuites")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    packages = sorted((p for p in events.packages.values() if p.name), key=lambda p: p.name)
    for pkg in packages:
        counts = _suite(suites, pkg, locate, host)
        for key, value in counts.items():
            totals[key] += value
    for key, value in totals.items():
        suites.set(key, str(value))
    suites.set("time", f"{_wall_clock(packages):.3f}")
    first = min((s for s in (_when(p.started) for p in packages) if s), default=None)
    if first is not None:
        suites.set("timestamp", _stamp(first))
    suites.set("hostname", host)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _suite(suites: ET.Element, pkg: _Package, locate: Locate | None, host: str) -> dict[str, int]:
    tests = sorted(pkg.tests.values(), key=lambda t: t.name)
    build_error = bool(pkg.build_output) or (pkg.status == "fail" and not tests)
    counts = {
        "tests": len(tests) + build_error,
        "failures": sum(t.status == "fail" for t in tests),
        "errors": int(build_error) + sum(t.status == "run" for t in tests),
        "skipped": sum(t.status == "skip" for t in tests),
    }
    attrib = {"name": pkg.name, **{k: str(v) for k, v in counts.items()}, "time": f"{pkg.elapsed:.3f}"}
    started = _when(pkg.started)
    if started is not None:
        attrib["timestamp"] = _stamp(started)
    attrib["hostname"] = host
    suite = ET.SubElement(suites, "testsuite", attrib)
    for test in tests:
        _case(suite, pkg, test, tests, locate)
    if build_error:
        case = ET.SubElement(suite, "testcase", classname=pkg.name, name="[build]", time="0")
        ET.SubElement(case, "error", message="build failed", type="build").text = _xml(
            "\n".join(pkg.build_output + pkg.output)
        )
    return counts


def _case(
    suite: ET.Element, pkg: _Package, test: _Test, siblings: list[_Test], locate: Locate | None
) -> None:
    attrib = {"classname": pkg.name, "name": test.name, "time": f"{test.elapsed:.3f}"}
    where = locate(pkg.name, test.name) if locate else None
    if where is not None:
        attrib["file"], attrib["line"] = where[0], str(where[1])
    case = ET.SubElement(suite, "testcase", {k: _xml(v) for k, v in attrib.items()})
    output = "\n".join(test.output)
    if test.status == "fail":
        message = _failure_message(test, siblings)
        ET.SubElement(case, "failure", message=_xml(message[:MESSAGE_CHARS]), type="failure").text = _xml(
            output
        )
    elif test.status == "skip":
        reason = _skip_reason(test)
        skipped = ET.SubElement(case, "skipped", message=_xml(reason[:MESSAGE_CHARS] or "skipped"))
        if reason:
            skipped.text = _xml(reason)
    elif test.status == "run":
        ET.SubElement(case, "error", message="did not finish", type="incomplete").text = _xml(output)
    printed = [line for line in test.output if not _FRAMING.match(line)]
    if printed:
        ET.SubElement(case, "system-out").text = _xml("\n".join(printed))


def _failure_message(test: _Test, siblings: list[_Test]) -> str:
    """The test's first ``t.Error`` line; for a parent failed by its subtests, their names."""
    own = next((ln.strip() for ln in test.output if _LOG_LINE.match(ln)), None)
    if own is not None:
        return own
    failed = [t.name for t in siblings if t.name.startswith(test.name + "/") and t.status == "fail"]
    if failed:
        more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
        return f"subtest{'s' * (len(failed) > 1)} failed: " + ", ".join(failed[:3]) + more
    return "failed"


def _skip_reason(test: _Test) -> str:
    """What ``t.Skip``/``t.Skipf`` printed, without the ``file.go:N:`` prefix go test adds."""
    lines = []
    for line in test.output:
        if _FRAMING.match(line):
            continue
        logged = _LOG_LINE.match(line)
        lines.append(logged["text"] if logged else line.strip())
    return "\n".join(line for line in lines if line)


def _when(text: str) -> datetime | None:
    """A ``go test -json`` ``Time`` (RFC 3339 with nanoseconds), which 3.10's parser refuses."""
    m = _GO_TIME.match(text)
    if not m:
        return None
    tz = m["tz"]
    offset = timezone.utc
    if tz != "Z":
        sign = -1 if tz[0] == "-" else 1
        offset = timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    micros = int((m["f"] or "0")[:6].ljust(6, "0"))
    return datetime.fromisoformat(m["s"]).replace(microsecond=micros, tzinfo=offset)


def _stamp(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="seconds")


def _wall_clock(packages: list[_Package]) -> float:
    """From the first event to the last; the sum of the packages' times when no event had one."""
    starts = [t for t in (_when(p.started) for p in packages) if t]
    ends = [t for t in (_when(p.ended) for p in packages) if t]
    if starts and ends:
        return max(0.0, (max(ends) - min(starts)).total_seconds())
    return sum(p.elapsed for p in packages)


def _xml(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else "\ufffd", text)
