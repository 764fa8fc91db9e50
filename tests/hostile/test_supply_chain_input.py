"""Hostile input to the supply-chain options: waivers and the clock they are judged by.

Each case runs the real ``gopipe`` command in the sandbox (see ``conftest.py``): exit 2, one
line naming the key, no traceback, a report, nothing outside the repository touched.
"""

from __future__ import annotations

import pytest
from tests.hostile.conftest import Sandbox

pytestmark = pytest.mark.slow

LINT = (
    'targets = ["linux/amd64"]\n[tool.gopipe.lint]\nproviders = ["govulncheck"]\n'
    "[tool.gopipe.lint.govulncheck]\n"
)
KEY = "tool.gopipe.lint.govulncheck.waivers"


@pytest.mark.parametrize(
    ("waivers", "says"),
    [
        ('[{ id = "GO-2025-1234", until = "2027-02-30", reason = "r" }]', f"{KEY}[0]: waiver GO-2025-1234"),
        ('[{ id = "GO-2025-1234", until = "someday", reason = "r" }]', "is not a date (YYYY-MM-DD)"),
        ('[{ id = "GO-2025-1234", until = 2027-03-31, reason = "r" }]', f"{KEY}[0].until: expected string"),
        ('[{ id = "GO-2025-1234", until = "2027-03-31" }]', f"{KEY}[0].reason: required key is missing"),
        ('[{ id = "$(touch ../pwned)", until = "2027-03-31", reason = "r" }]', "is not an OSV id"),
        ('"GO-2025-1234"', f"{KEY}: expected array"),
        (
            '[{ id = "GO-2025-1234", until = "2027-03-31", reason = "a" },'
            ' { id = "go-2025-1234", until = "2028-01-01", reason = "b" }]',
            "two waivers for go-2025-1234",
        ),
    ],
    ids=["impossible-date", "not-a-date", "toml-date", "no-reason", "shell-in-id", "not-a-list", "twice"],
)
def test_bad_waivers_are_config_errors(sandbox: Sandbox, waivers: str, says: str) -> None:
    sandbox.config(LINT + f"waivers = {waivers}\n")
    outcome = sandbox.run("run", "lint", "--plain")
    sandbox.check(outcome, code=2, says=says)
    assert not (sandbox.sentinel / "pwned").exists()


@pytest.mark.parametrize("now", ["yesterday", "2027-04-01T00:00:00", "\x1b[31m2027"])
def test_a_bad_clock_is_a_config_error(sandbox: Sandbox, now: str) -> None:
    sandbox.config(LINT + 'waivers = [{ id = "GO-2025-1234", until = "2027-03-31", reason = "r" }]\n')
    outcome = sandbox.run("run", "lint", "--plain", env={"GOPIPE_NOW": now})
    sandbox.check(outcome, code=2, says="GOPIPE_NOW")
