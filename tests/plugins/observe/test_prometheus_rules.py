"""The shipped Prometheus rules are valid (``promtool check rules``) and compute what
docs/observability.md says (``promtool test rules`` with the unit tests next to them)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.harness.procs import require_binary

pytestmark = pytest.mark.slow  # runs promtool from the Debian prometheus package

RULES = Path(__file__).resolve().parents[3] / "docs" / "prometheus"


def test_rules_are_valid() -> None:
    promtool = require_binary("promtool", "prometheus")
    out = subprocess.run(
        [promtool, "check", "rules", str(RULES / "gopipe-rules.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 10 rules found" in out.stdout


def test_rules_compute_the_dora_keys() -> None:
    promtool = require_binary("promtool", "prometheus")
    out = subprocess.run(
        [promtool, "test", "rules", "gopipe-rules.test.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
