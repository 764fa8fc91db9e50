"""Waivers: a known vulnerability accepted until a date, with a reason, never for good.

A waiver names an OSV id (``GO-2025-1234``) or one of its aliases (``CVE-…``, ``GHSA-…``),
the last UTC day it holds and why. While it holds, the finding is still reported, marked as
suppressed (SARIF ``suppressions``, the step summary), and does not fail the stage. The day
after ``until`` the waiver fails the run and names itself, whether or not the finding is
still there: an expired waiver is a decision someone has to take again. A waiver that
matches no finding is a warning, so stale ones get removed. Dates are compared against
:func:`gopipe_plugins._common.clock.utc_today` (``GOPIPE_NOW`` sets it).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field

from gopipe.config import doc

_ID = re.compile(r"^[A-Za-z]+-[A-Za-z0-9][A-Za-z0-9-]*$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Waiver:
    """One accepted finding: ``{ id = "GO-2025-1234", until = "2027-03-31", reason = "…" }``."""

    id: str = doc("OSV id (GO-YYYY-NNNN) or one of its aliases (CVE-…, GHSA-…)")
    until: str = doc("last UTC day the waiver holds, YYYY-MM-DD")
    reason: str = doc("why the finding is accepted until then (shown in SARIF and the summary)")

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise ValueError(f"waiver id {self.id[:60]!r} is not an OSV id or alias such as GO-2025-1234")
        if not _DAY.match(self.until):
            raise ValueError(f"waiver {self.id}: until {self.until[:40]!r} is not a date (YYYY-MM-DD)")
        try:
            dt.date.fromisoformat(self.until)
        except ValueError:
            raise ValueError(f"waiver {self.id}: until {self.until!r} is not a calendar date") from None
        if not self.reason.strip():
            raise ValueError(f"waiver {self.id}: reason is empty; say why the finding is accepted")

    @property
    def last_day(self) -> dt.date:
        return dt.date.fromisoformat(self.until)

    def holds_on(self, today: dt.date) -> bool:
        return today <= self.last_day

    def justification(self) -> str:
        return f"waived until {self.until}: {self.reason.strip()}"


def check_unique(waivers: Sequence[Waiver]) -> None:
    """Two waivers for one id would make the effective date a matter of order."""
    seen: set[str] = set()
    for waiver in waivers:
        if waiver.id.upper() in seen:
            raise ValueError(f"two waivers for {waiver.id}; keep one")
        seen.add(waiver.id.upper())


@dataclass(frozen=True)
class Verdict:
    """What the waivers do to one run's findings."""

    active: Mapping[str, Waiver] = field(default_factory=dict)  # OSV id -> the waiver silencing it
    expired: tuple[tuple[Waiver, str | None], ...] = ()  # waiver, and the OSV id it would match
    unused: tuple[Waiver, ...] = ()


def judge(waivers: Sequence[Waiver], found: Mapping[str, Set[str]], today: dt.date) -> Verdict:
    """Match ``waivers`` against ``found`` (OSV id -> its id and aliases, upper case) on ``today``."""
    active: dict[str, Waiver] = {}
    expired: list[tuple[Waiver, str | None]] = []
    unused: list[Waiver] = []
    for waiver in waivers:
        matched = sorted(osv for osv, names in found.items() if waiver.id.upper() in names)
        if not waiver.holds_on(today):
            expired.append((waiver, matched[0] if matched else None))
        elif not matched:
            unused.append(waiver)
        else:
            for osv in matched:
                active.setdefault(osv, waiver)
    return Verdict(active, tuple(expired), tuple(unused))
