"""Waivers and the clock without govulncheck: matching, expiry day, config errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gopipe.artifacts import Finding
from gopipe.config.options import parse_options
from gopipe.errors import ConfigError
from gopipe_plugins._common.clock import utc_now, utc_today
from gopipe_plugins.lint.driver import Driver
from gopipe_plugins.lint.govulncheck import GovulncheckOptions
from gopipe_plugins.lint.sarif import LinterRun, to_sarif
from gopipe_plugins.lint.waivers import Waiver, judge

KEY = "tool.gopipe.lint.govulncheck"


def _waiver(id: str = "GO-2025-1234", until: str = "2027-03-31") -> Waiver:
    return Waiver(id, until, "not reachable with our inputs")


def test_a_waiver_holds_on_its_last_day_and_expires_the_next() -> None:
    found = {"GO-2025-1234": {"GO-2025-1234", "CVE-2025-9999"}}
    on_last_day = judge([_waiver()], found, dt.date(2027, 3, 31))
    assert dict(on_last_day.active) == {"GO-2025-1234": _waiver()} and not on_last_day.expired
    next_day = judge([_waiver()], found, dt.date(2027, 4, 1))
    assert next_day.expired == ((_waiver(), "GO-2025-1234"),) and not next_day.active


def test_aliases_match_and_unmatched_waivers_are_unused_or_expired() -> None:
    found = {"GO-2025-1234": {"GO-2025-1234", "CVE-2025-9999"}}
    alias, stale = _waiver("cve-2025-9999"), _waiver("GO-2020-0001", "2020-01-01")
    unused = _waiver("GO-2026-0002")
    verdict = judge([alias, stale, unused], found, dt.date(2026, 12, 1))
    assert dict(verdict.active) == {"GO-2025-1234": alias}
    assert verdict.expired == ((stale, None),)  # expired and matching nothing still fails
    assert verdict.unused == (unused,)


@pytest.mark.parametrize(
    ("waiver", "says"),
    [
        ({"id": "GO-2025-1234", "until": "31.03.2027", "reason": "r"}, "is not a date (YYYY-MM-DD)"),
        ({"id": "GO-2025-1234", "until": "2027-02-30", "reason": "r"}, "is not a calendar date"),
        ({"id": "GO-2025-1234", "until": dt.date(2027, 3, 31), "reason": "r"}, "expected string"),
        ({"id": "GO-2025-1234", "until": "2027-03-31", "reason": "  "}, "reason is empty"),
        ({"id": "GO-2025-1234", "until": "2027-03-31"}, "required key is missing"),
        ({"id": "; rm -rf /", "until": "2027-03-31", "reason": "r"}, "is not an OSV id"),
        ({"id": "GO-2025-1234", "until": "2027-03-31", "reason": "r", "by": "me"}, "unknown key 'by'"),
    ],
)
def test_bad_waivers_are_config_errors(waiver: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_options(GovulncheckOptions, {"waivers": [waiver]}, file="pyproject.toml", key=KEY)
    assert says in str(err.value) and f"{KEY}.waivers[0]" in str(err.value)


def test_two_waivers_for_one_id_are_a_config_error() -> None:
    twice = [{"id": "GO-2025-1234", "until": "2027-03-31", "reason": "r"}] * 2
    with pytest.raises(ConfigError, match="two waivers for GO-2025-1234"):
        parse_options(GovulncheckOptions, {"waivers": twice}, file="pyproject.toml", key=KEY)


def test_the_judging_day_is_part_of_the_options_only_with_waivers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOPIPE_NOW", "2027-03-31T22:00:00-05:00")  # already April 1st in UTC
    one = [{"id": "GO-2025-1234", "until": "2027-03-31", "reason": "r"}]
    options = parse_options(GovulncheckOptions, {"waivers": one}, file="f", key=KEY)
    assert "judged_on='2027-04-01'" in repr(options)
    assert "judged_on=''" in repr(GovulncheckOptions())


@pytest.mark.parametrize("raw", ["tomorrow", "2027-04-01T00:00:00", "2027-13-01", "1712345678"])
def test_a_bad_clock_is_a_config_error_naming_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError) as err:
        utc_now({"GOPIPE_NOW": raw})
    assert "GOPIPE_NOW" in str(err.value) and "RFC 3339" in str(err.value)


def test_the_clock() -> None:
    assert utc_today({"GOPIPE_NOW": "2027-04-01"}) == dt.date(2027, 4, 1)
    assert utc_now({"GOPIPE_NOW": "2027-04-01T01:02:03+02:00"}).isoformat() == "2027-03-31T23:02:03+00:00"
    before = dt.datetime.now(dt.timezone.utc)
    assert before <= utc_now({}) <= dt.datetime.now(dt.timezone.utc)


def test_sarif_marks_a_suppressed_finding_and_keeps_its_level(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module m\n")
    waived = Finding("govulncheck", "GO-2025-1234", "flaw", level="error", suppressed="waived until x: y")
    log = to_sarif(
        [LinterRun("govulncheck", Driver("govulncheck"))],
        [waived, Finding("govulncheck", "GO-2025-9", "other")],
        module_root=tmp_path,
        repo_root=tmp_path,
    )
    by_rule = {r["ruleId"]: r for r in log["runs"][0]["results"]}
    assert by_rule["GO-2025-1234"]["level"] == "error"
    assert by_rule["GO-2025-1234"]["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "waived until x: y"}
    ]
    assert "suppressions" not in by_rule["GO-2025-9"]
