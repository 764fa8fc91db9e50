"""Statements and lines: the two coverage numbers gopipe reports, and why they differ."""

from __future__ import annotations

from gopipe_plugins._common.coverprofile import LineTotals, line_totals, parse_profile, summarise

# One covered block of 3 statements on line 3, one uncovered block of 1 statement spanning
# lines 5-7: 3 of 4 statements are covered, but only 1 of 4 lines.
PROFILE = "mode: set\nex.com/m/a.go:3.10,3.40 3 1\nex.com/m/a.go:5.2,7.3 1 0\n"


def test_statement_and_line_coverage_count_different_things() -> None:
    profile = parse_profile(PROFILE)
    statements = summarise(profile).total
    lines = line_totals(profile)
    assert (statements.covered, statements.statements, statements.percent) == (3, 4, 75.0)
    assert (lines.covered, lines.valid, lines.percent) == (1, 4, 25.0)


def test_a_line_hit_by_any_block_counts_as_covered() -> None:
    profile = parse_profile("mode: count\nex.com/m/a.go:3.1,3.9 1 0\nex.com/m/a.go:3.10,4.2 1 5\n")
    assert line_totals(profile) == LineTotals(valid=2, covered=2)
