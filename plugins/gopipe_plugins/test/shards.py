"""Deterministic test shards: split ``go list ./...`` packages into N balanced groups.

With ``dist/gopipe/test-timings.json`` (package → seconds, written after every test run
and merged by ``gopipe merge``) the split balances recorded durations (longest first onto
the lightest shard); otherwise it balances package counts. Packages without tests are
included too (at a tenth of the weight): with ``-coverprofile`` Go reports their
statements as uncovered, and leaving them out would make sharded coverage differ from
the unsharded run. Sorting makes every runner compute the same split, and each shard
records a digest of its inputs so ``gopipe merge`` can refuse shards that disagree.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gopipe.context import ProviderContext
from gopipe.types import MergeInput, MergeOutput

TIMINGS = "test-timings.json"
SHARD_TIMINGS = "shard-timings.json"  # a sharded run's own measurements, merged later
NO_TESTS_WEIGHT = 0.1


def split(
    packages: Sequence[str],
    n: int,
    timings: Mapping[str, float] | None = None,
    untested: frozenset[str] = frozenset(),
) -> list[list[str]]:
    """``packages`` in ``n`` groups with balanced total weight, each sorted."""
    known = [float(v) for p, v in (timings or {}).items() if p in packages and v > 0]
    default = statistics.median(known) if known else 1.0
    weights = {
        p: float((timings or {}).get(p) or default) * (NO_TESTS_WEIGHT if p in untested else 1)
        for p in packages
    }
    order = sorted(packages, key=lambda p: (-weights[p], p))
    heap = [(0.0, i) for i in range(n)]
    shards: list[list[str]] = [[] for _ in range(n)]
    for pkg in order:
        load, i = heapq.heappop(heap)
        shards[i].append(pkg)
        heapq.heappush(heap, (load + weights[pkg], i))
    return [sorted(s) for s in shards]


def read_timings(path: Path) -> dict[str, float]:
    """Recorded package durations; an unreadable file counts as none (never fatal)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(k): float(v) for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def write_timings(path: Path, timings: Mapping[str, float]) -> None:
    """Write sorted, rounded timings atomically (two shards may share a checkout)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({k: round(v, 3) for k, v in sorted(timings.items())}, indent=1) + "\n")
    os.replace(tmp, path)


def record_timings(ctx: ProviderContext[object], elapsed: Mapping[str, float]) -> None:
    """Update ``test-timings.json`` with this run's package durations, keeping the others.

    A sharded run writes ``shard-timings.json`` instead: rewriting the file the split was
    computed from would give the next shard run in the same checkout a different split.
    ``gopipe merge`` folds every shard's measurements into ``test-timings.json``.
    """
    if not elapsed:
        return
    path = ctx.out / (SHARD_TIMINGS if ctx.args.shard else TIMINGS)
    timings = read_timings(path)
    timings.update(elapsed)
    write_timings(path, timings)


def select_shard(ctx: ProviderContext[object], shard: tuple[int, int]) -> list[str]:
    """This runner's packages for ``--shard I/N``; may be empty when N exceeds the packages."""
    index, count = shard
    listed = ctx.go.packages()
    packages = sorted(p.import_path for p in listed)
    untested = frozenset(p.import_path for p in listed if not p.has_tests)
    timings = read_timings(ctx.out / TIMINGS)
    used = {p: timings[p] for p in packages if p in timings}
    chosen = split(packages, count, used, untested)[index - 1]
    digest = hashlib.sha256(json.dumps([packages, count, sorted(used.items())]).encode()).hexdigest()
    ctx.add_artifact(
        "test-shard",
        f"shard {index}/{count}",
        index=index,
        count=count,
        packages=chosen,
        all_packages=len(packages),
        split=digest[:16],
        balanced_by="timings" if used else "package count",
    )
    ctx.log(
        f"shard {index}/{count}: {len(chosen)} of {len(packages)} packages, balanced by "
        + ("recorded timings" if used else "package count")
    )
    return chosen


def merge_timings(parts: Iterable[Path], out: Path) -> None:
    """The recorded timings of every part, then every shard's own measurements, into ``out``."""
    parts = list(parts)
    timings: dict[str, float] = {}
    for name in (TIMINGS, SHARD_TIMINGS):
        for part in parts:
            timings.update(read_timings(part / name))
    if timings:
        write_timings(out / TIMINGS, timings)


def fold_shards(inp: MergeInput) -> MergeOutput:
    """Check the shards add up: one split, none missing, none twice, no package tested twice."""
    result = MergeOutput()
    by_count: dict[int, list[Mapping[str, Any]]] = {}
    for file in inp.files:
        extra = dict(file.artifact.get("extra") or {})
        by_count.setdefault(int(extra.get("count", 0)), []).append(extra)
        copied = inp.copy(file)
        if not isinstance(copied, str):
            result.artifacts.append(copied)
    for count, found in sorted(by_count.items()):
        if len({str(e.get("split")) for e in found}) > 1:
            result.problems.append(
                f"the {count} shards computed different splits (their "
                "test-timings.json differed); give every shard the same file"
            )
        indexes = sorted(int(e.get("index", 0)) for e in found)
        missing = sorted(set(range(1, count + 1)) - set(indexes))
        if missing:
            result.problems.append("missing shard output: " + ", ".join(f"{i}/{count}" for i in missing))
        doubled = sorted({i for i in indexes if indexes.count(i) > 1})
        if doubled:
            result.problems.append("shard given twice: " + ", ".join(f"{i}/{count}" for i in doubled))
        packages = [p for e in found for p in e.get("packages") or []]
        twice = sorted({p for p in packages if packages.count(p) > 1})
        if twice and not doubled:
            result.problems.append(f"packages tested by two shards: {', '.join(twice[:5])}")
    return result
