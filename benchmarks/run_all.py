#!/usr/bin/env python3
"""Every benchmark of issue 12 in one run, within a time budget, and one table of the goals.

Runs ``startup.py``, ``fresh_runner.py``, ``peers.py`` and ``ci_vs_shell.py`` (hello and the
synthetic module, warm and ``-count=1``) one after another with rounds and sizes chosen so
the whole set fits in ``--budget`` seconds on the project's 2-core machine, then prints every
ratio of the issue's "Goals" table with its goal and whether it is met. Each benchmark's own
output streams through as it runs. A benchmark that would start after the budget is spent is
not run, and one still running when it is spent is stopped: its rows say so, and the exit
code is 1, so a figure never silently goes missing.

    python benchmarks/run_all.py [--budget 900] [--only startup,fresh,peers,ci]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import RESULTS_ENV, load  # noqa: E402


@dataclass(frozen=True)
class Bench:
    name: str
    argv: tuple[str, ...]


# Sizes chosen for 15 minutes on 2 shared cores (docs/performance.md, "Run time"): the
# synthetic module is 160 packages against the peers (the binary, not the tests, is what they
# compare) and 40 packages in ci_vs_shell (every test runs with -race there).
# The order puts the side-by-side comparisons first: on a loaded machine the cold builds of
# fresh_runner.py take longest (a cold hello build took 125 s at load 14), and what the budget
# leaves out is then the one benchmark that is not a peer comparison.
PLAN = (
    Bench("peers", ("peers.py", "--rounds", "2", "--packages", "160")),
    Bench("ci", ("ci_vs_shell.py", "--rounds", "2", "--packages", "40")),
    Bench("startup", ("startup.py", "--rounds", "8")),
    Bench("fresh", ("fresh_runner.py", "--rounds", "1")),
)

# (row of the goals table, result keys, goal, how the value reads)
ROWS: tuple[tuple[str, tuple[str, ...], float, str], ...] = (
    ("build / goreleaser build", ("build/hello", "build/synth"), 0.8, "ratio"),
    ("build+archive+checksum / goreleaser release", ("release/hello", "release/synth"), 0.8, "ratio"),
    ("image / ko build", ("image/hello", "image/synth"), 0.8, "ratio"),
    ("nox -s ci --no-cache / script, warm", ("ci-warm/hello", "ci-warm/synth"), 0.9, "ratio"),
    ("nox -s ci --no-cache / script, -count=1", ("ci-count1/hello", "ci-count1/synth"), 0.9, "ratio"),
    ("no-op rerun / script", ("noop/hello", "noop/synth"), 0.10, "ratio"),
    ("gopipe --help wall", ("startup-ms/gopipe --help",), 40.0, "ms"),
    ("fresh runner, same commit / cold", ("fresh-same",), 0.15, "ratio"),
    ("fresh runner, one file changed / cold", ("fresh-one",), 0.40, "ratio"),
    ("fresh runner, one file: remote / tarball", ("fresh-one-vs-tarball",), 1.0, "ratio"),
)
OWNER = {"build": "peers", "release": "peers", "image": "peers", "ci-warm": "ci", "ci-count1": "ci"}
OWNER |= {"noop": "ci", "startup-ms": "startup", "fresh-same": "fresh", "fresh-one": "fresh"}
OWNER |= {"fresh-one-vs-tarball": "fresh"}
STOP_GRACE = 20.0  # seconds kept back for stopping a benchmark cleanly within the budget
SHORT = {"not selected": "-", "not run": "no time", "stopped": "stopped", "failed": "failed", "ok": "missing"}


def run_one(bench: Bench, results: Path, seconds_left: float) -> str:
    """Run one benchmark with what is left of the budget; returns how it ended."""
    env = {**os.environ, RESULTS_ENV: str(results)}
    cmd = [sys.executable, str(HERE / bench.argv[0]), *bench.argv[1:]]
    print(
        f"\n### {bench.name}: {' '.join(bench.argv)}  (budget left {seconds_left:.0f} s; {load()})",
        flush=True,
    )
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        code = proc.wait(timeout=max(1.0, seconds_left - STOP_GRACE))
    except subprocess.TimeoutExpired:
        # SIGINT first: the benchmark unwinds and stops its registry; its group holds its runs
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=STOP_GRACE - 5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        return "stopped: budget spent"
    return "ok" if code == 0 else f"failed (exit {code})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=900.0, help="seconds for the whole set")
    parser.add_argument("--only", default=",".join(b.name for b in PLAN))
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    start = time.monotonic()
    status: dict[str, str] = {}
    took: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="gopipe-bench-all-") as tmp:
        results = Path(tmp) / "results.jsonl"
        results.touch()
        for bench in PLAN:
            if bench.name not in wanted:
                status[bench.name] = "not selected"
                continue
            left = args.budget - (time.monotonic() - start)
            if left < 30:
                status[bench.name] = "not run: budget spent"
                continue
            began = time.monotonic()
            status[bench.name] = run_one(bench, results, left)
            took[bench.name] = time.monotonic() - began
        figures: dict[str, dict[str, object]] = {}
        for line in results.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            figures[str(entry["key"])] = entry
    total = time.monotonic() - start
    print(f"\n== issue 12 goals: medians of alternating runs; {load()}")
    print(f"   {'figure':<44} {'hello':>8} {'synth':>8}  goal     met?")
    all_there = True
    for title, keys, goal, unit in ROWS:
        cells, met = [], []
        for key in keys:
            entry = figures.get(key)
            if entry is None:
                all_there = False
                how = status.get(OWNER[key.split("/")[0]], "?")
                cells.append(next((v for k, v in SHORT.items() if how.startswith(k)), how[:8]))
                continue
            value = float(entry["value"])  # type: ignore[arg-type]
            cells.append(f"{value:8.1f}" if unit == "ms" else f"{value:8.3f}")
            met.append(value <= goal)
        cells += [""] * (2 - len(cells))
        verdict = "-" if not met else ("yes" if all(met) else ("no" if not any(met) else "partly"))
        shown_goal = f"<= {goal:g}{' ms' if unit == 'ms' else ''}"
        print(f"   {title:<44} {cells[0]:>8} {cells[1]:>8}  {shown_goal:<8} {verdict}")
    print("   (single-module figures are in the hello column)")
    print("run time: " + ", ".join(f"{name} {took[name]:.0f} s" for name in took) + f"; total {total:.0f} s")
    for name, how in status.items():
        if how != "ok":
            print(f"   {name}: {how}")
    within = total <= args.budget
    print(f"budget {args.budget:.0f} s: {'kept' if within else 'exceeded'}")
    return 0 if within and all_there and all(s in ("ok", "not selected") for s in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
