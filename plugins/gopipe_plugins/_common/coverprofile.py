"""Go cover profiles: parse, merge (atomic/count sum, set max) and summarise."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

_LINE = re.compile(
    r"^(?P<file>.+):(?P<sl>\d+)\.(?P<sc>\d+),(?P<el>\d+)\.(?P<ec>\d+) "
    r"(?P<stmts>\d+) (?P<count>\d+)$"
)

BlockKey = tuple[str, int, int, int, int]


@dataclass
class Profile:
    mode: str
    blocks: dict[BlockKey, tuple[int, int]] = field(default_factory=dict)  # key -> (stmts, count)

    def add(self, key: BlockKey, stmts: int, count: int) -> None:
        if key in self.blocks:
            old = self.blocks[key][1]
            count = max(old, count) if self.mode == "set" else old + count
        self.blocks[key] = (stmts, count)

    def write(self, path: Path) -> None:
        lines = [f"mode: {self.mode}"]
        for (file, sl, sc, el, ec), (stmts, count) in sorted(self.blocks.items()):
            lines.append(f"{file}:{sl}.{sc},{el}.{ec} {stmts} {count}")
        path.write_text("\n".join(lines) + "\n")


def parse_profile(text: str) -> Profile:
    lines = text.splitlines()
    if not lines or not lines[0].startswith("mode: "):
        raise ValueError("not a Go cover profile (missing 'mode:' line)")
    profile = Profile(lines[0].split(":", 1)[1].strip())
    for line in lines[1:]:
        if not line.strip() or line.startswith("mode:"):
            continue
        m = _LINE.match(line)
        if not m:
            raise ValueError(f"bad cover profile line: {line!r}")
        key = (m["file"], int(m["sl"]), int(m["sc"]), int(m["el"]), int(m["ec"]))
        profile.add(key, int(m["stmts"]), int(m["count"]))
    return profile


def merge_profiles(profiles: Iterable[Profile]) -> Profile:
    merged: Profile | None = None
    for p in profiles:
        if merged is None:
            merged = Profile(p.mode)
        elif p.mode != merged.mode:
            raise ValueError(f"cannot merge cover profiles of modes {merged.mode} and {p.mode}")
        for key, (stmts, count) in p.blocks.items():
            merged.add(key, stmts, count)
    return merged or Profile("set")


@dataclass(frozen=True)
class Totals:
    statements: int
    covered: int

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.statements if self.statements else 100.0


@dataclass(frozen=True)
class Summary:
    total: Totals
    packages: Mapping[str, Totals]
    files: Mapping[str, Totals]  # import-path file name -> totals


def summarise(profile: Profile) -> Summary:
    files: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (file, *_), (stmts, count) in profile.blocks.items():
        files[file][0] += stmts
        files[file][1] += stmts if count > 0 else 0
    packages: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for file, (stmts, covered) in files.items():
        pkg = packages[file.rsplit("/", 1)[0]]
        pkg[0] += stmts
        pkg[1] += covered
    total = Totals(sum(s for s, _ in files.values()), sum(c for _, c in files.values()))
    return Summary(
        total,
        {k: Totals(*v) for k, v in sorted(packages.items())},
        {k: Totals(*v) for k, v in sorted(files.items())},
    )


def line_hits(profile: Profile) -> dict[str, dict[int, int]]:
    """Per file, per line: the highest count of any block covering the line."""
    hits: dict[str, dict[int, int]] = defaultdict(dict)
    for (file, sl, _, el, _), (_, count) in profile.blocks.items():
        lines = hits[file]
        for n in range(sl, el + 1):
            lines[n] = max(lines.get(n, 0), count)
    return hits


@dataclass(frozen=True)
class LineTotals:
    """Source lines with code (``valid``) and those with a hit (``covered``)."""

    valid: int
    covered: int

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.valid if self.valid else 100.0


def line_totals(profile: Profile) -> LineTotals:
    """Source lines (not statements) with and without hits, as Cobertura and Codecov count.

    One line can hold several statements and one statement can span several lines, so this
    differs from :func:`summarise`'s statement coverage, Go's own number (``go test -cover``).
    """
    hits = line_hits(profile)
    return LineTotals(
        sum(len(lines) for lines in hits.values()),
        sum(1 for lines in hits.values() for count in lines.values() if count > 0),
    )
