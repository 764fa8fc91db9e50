"""Deterministic test shards: split ``go list`` packages into N balanced groups.

With ``dist/gopipe/test-timings.json`` (package → seconds, from earlier runs) the split
balances recorded durations (longest first onto the lightest shard); otherwise it
balances package counts. Sorting makes every runner compute the same split.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Mapping, Sequence

from gopipe.context import ProviderContext

TIMINGS = "test-timings.json"


def split(packages: Sequence[str], n: int, timings: Mapping[str, float] | None = None) -> list[list[str]]:
    weights = {p: float((timings or {}).get(p, 1.0)) for p in packages}
    order = sorted(packages, key=lambda p: (-weights[p], p))
    heap = [(0.0, i) for i in range(n)]
    shards: list[list[str]] = [[] for _ in range(n)]
    for pkg in order:
        load, i = heapq.heappop(heap)
        shards[i].append(pkg)
        heapq.heappush(heap, (load + weights[pkg], i))
    return [sorted(s) for s in shards]


def select_shard(ctx: ProviderContext[object], shard: tuple[int, int]) -> list[str]:
    index, count = shard
    packages = sorted(p.import_path for p in ctx.go.packages() if p.has_tests)
    timings_file = ctx.out / TIMINGS
    timings = json.loads(timings_file.read_text()) if timings_file.is_file() else None
    chosen = split(packages, count, timings)[index - 1]
    ctx.log(f"shard {index}/{count}: {len(chosen)} of {len(packages)} packages")
    return chosen
