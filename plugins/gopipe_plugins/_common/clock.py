"""The run's idea of "now", in UTC, with one override so dates can be tested.

Waivers expire, signatures carry times: both must be checked against a clock a test (or an
auditor replaying an old run) can set. ``GOPIPE_NOW`` holds an RFC 3339 time
(``2027-04-01T00:00:00Z``) or a date (``2027-04-01``, meaning its midnight UTC); without it
the system clock is used. ``SOURCE_DATE_EPOCH`` is deliberately *not* read: it is the
commit's time, set for reproducible builds, and would freeze every expiry at the commit.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from gopipe.errors import ConfigError

ENV = "GOPIPE_NOW"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def utc_now(environ: Mapping[str, str]) -> dt.datetime:
    """``GOPIPE_NOW`` when set (a bad value is a :class:`ConfigError`), else the system clock."""
    raw = environ.get(ENV, "").strip()
    if not raw:
        return dt.datetime.now(dt.timezone.utc)
    try:
        if _DATE.match(raw):
            return dt.datetime.combine(dt.date.fromisoformat(raw), dt.time(), dt.timezone.utc)
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ConfigError(
            "environment",
            ENV,
            f"{raw[:40]!r} is not a date or an RFC 3339 time with a zone",
            f"set {ENV}=2027-04-01 or {ENV}=2027-04-01T00:00:00Z, or unset it",
        )
    return moment.astimezone(dt.timezone.utc)


def utc_today(environ: Mapping[str, str]) -> dt.date:
    return utc_now(environ).date()
