"""Test wall time against shard count, with shards as separate concurrent processes.

Generates a synthetic Go module (default 24 packages whose tests burn a measurable,
uneven amount of CPU), then times, side by side in one run:

- the unsharded ``gopipe run test``;
- ``--shard i/N`` for N = 1, 2, 4, each shard a separate ``gopipe`` process in its own
  copy of the module (standing in for a runner), all N started at once; wall time is
  from the first start to the last exit;
- the same shard counts again balanced by the timings the unsharded run recorded
  (every fourth package is 4x heavier, which a count-balanced split piles onto one shard).

Configurations run round-robin ``--repeat`` times (default 2) and the best wall time of
each is reported, so load from other work on the machine skews them alike.

Each process models a runner with ``--runner-cpus`` CPUs (GOMAXPROCS and ``go test -p``),
default 1. The speed-up is capped by this machine's cores: N shards on a 2-core machine
cannot beat ~2x however many runners they stand in for; on GitHub each shard gets its
own machine. Run: ``python benchmarks/shards.py [--packages 24] [--shards 1,2,4]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MODULE = "example.com/shardbench"
_SOURCE = """package {pkg}

// Work is a deterministic CPU burner the compiler cannot elide.
func Work(n int) uint64 {{
	h := uint64(1469598103934665603)
	for i := 0; i < n; i++ {{
		h ^= uint64(i)
		h *= 1099511628211
	}}
	return h
}}
"""
_TEST = """package {pkg}

import "testing"

func TestWork(t *testing.T) {{
	if Work({n}) == 0 {{
		t.Fatal("unexpected zero hash")
	}}
}}
"""


@dataclass(frozen=True)
class Timing:
    label: str
    processes: int
    wall_s: float
    tests: int
    balanced_by: str


def cost(k: int) -> int:
    """Work units of package k: every fourth package is 4x heavier. Uneven on purpose, and
    aligned with the alphabetical round-robin a count-balanced split makes, so balancing
    by recorded timings has something to fix (real modules have such hot spots too)."""
    return 4 if k % 4 == 0 else 1


def generate(root: Path, packages: int, iterations: int) -> None:
    """A module of ``packages`` packages; package k's test costs ``cost(k)`` units."""
    (root / "go.mod").write_text(f"module {MODULE}\n\ngo 1.24\n")
    (root / "pyproject.toml").write_text(
        '[tool.gopipe]\n\n[tool.gopipe.test.go]\nrace = false\nflags = ["-count=1"]\n'
    )
    for k in range(packages):
        pkg = f"p{k:02d}"
        d = root / "pkg" / pkg
        d.mkdir(parents=True)
        (d / f"{pkg}.go").write_text(_SOURCE.format(pkg=pkg))
        (d / f"{pkg}_test.go").write_text(_TEST.format(pkg=pkg, n=iterations * cost(k)))


def gopipe(root: Path, cpus: int, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "GOMAXPROCS": str(cpus), "GOFLAGS": f"-p={cpus} -trimpath"}
    return subprocess.Popen(
        [sys.executable, "-m", "gopipe.cli", "run", "test", *args, "-C", str(root), "--plain", "--no-notify"],
        env=env,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def copy_runner(src: Path, dst: Path, timings: Path | None) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("dist"))
    if timings is not None:
        (dst / "dist" / "gopipe").mkdir(parents=True)
        shutil.copy(timings, dst / "dist" / "gopipe" / "test-timings.json")
    return dst


def tests_run(root: Path) -> int:
    report = json.loads((root / "dist" / "gopipe" / "report.json").read_text())
    junit = next((a for a in report["artifacts"] if a["kind"] == "junit"), None)
    if junit is None:
        return 0
    text = (root / str(junit["path"])).read_text()
    return text.count("<testcase ")


def measure(
    label: str, module: Path, work: Path, shards: int | None, cpus: int, timings: Path | None
) -> Timing:
    count = shards or 1
    roots = [copy_runner(module, work / f"{label}-{i}", timings) for i in range(1, count + 1)]
    t0 = time.monotonic()
    procs = [
        gopipe(r, cpus, *(["--shard", f"{i}/{shards}"] if shards else [])) for i, r in enumerate(roots, 1)
    ]
    for p, r in zip(procs, roots, strict=True):
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"{label}: gopipe failed in {r} (exit {p.returncode}):\n{err[-2000:]}")
    wall = time.monotonic() - t0
    by = "timings" if timings is not None else ("package count" if shards else "-")
    return Timing(label, count, wall, sum(tests_run(r) for r in roots), by)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--packages", type=int, default=24)
    parser.add_argument(
        "--iterations",
        type=int,
        default=200_000_000,
        help="hash rounds per cost unit (~0.2 s of CPU at 1 ns per round)",
    )
    parser.add_argument("--shards", default="1,2,4")
    parser.add_argument("--runner-cpus", type=int, default=1, help="CPUs each runner process may use")
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs per configuration, round-robin; the best is reported"
    )
    ns = parser.parse_args()
    counts = [int(s) for s in ns.shards.split(",")]
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="gopipe-shard-bench-") as tmp:
        module = Path(tmp) / "module"
        module.mkdir()
        generate(module, ns.packages, ns.iterations)
        work = Path(tmp) / "runners"
        load_before = os.getloadavg()[0]
        units = sum(cost(k) for k in range(ns.packages))
        print(
            f"synthetic module: {ns.packages} packages, {units} work units of {ns.iterations} "
            f"hash rounds; {cores} cores here; each runner process gets {ns.runner_cpus} CPU(s); "
            f"load average before: {load_before:.1f}"
        )
        warm = measure("warm-up", module, work, None, cores, None)  # fills the Go build cache
        print(f"warm-up (build cache, not compared): {warm.wall_s:.1f}s")
        first = measure("unsharded", module, work / "r0", None, ns.runner_cpus, None)
        timings = work / "timings.json"
        shutil.copy(work / "r0" / "unsharded-1" / "dist" / "gopipe" / "test-timings.json", timings)
        configs: list[tuple[str, int | None, Path | None]] = [("unsharded", None, None)]
        configs += [(f"{n}-shard", n, None) for n in counts]
        configs += [(f"{n}-shard-timed", n, timings) for n in counts if n > 1]
        runs: dict[str, list[Timing]] = {label: [] for label, _, _ in configs}
        runs["unsharded"].append(first)
        for rnd in range(ns.repeat):  # round-robin, so drifting load hits every config alike
            for label, n, t in configs:
                if label == "unsharded" and rnd == 0:
                    continue
                runs[label].append(measure(label, module, work / f"r{rnd}", n, ns.runner_cpus, t))
        results = [min(found, key=lambda t: t.wall_s) for found in runs.values()]
    base = results[0]
    print(f"load average after: {os.getloadavg()[0]:.1f} (other work on this machine skews wall times)")
    print()
    print(f"best of {ns.repeat} per configuration:")
    print(f"{'run':<16} {'processes':>9} {'wall':>8} {'speed-up':>9} {'tests':>6}  balanced by")
    for r in results:
        print(
            f"{r.label:<16} {r.processes:>9} {r.wall_s:>7.1f}s {base.wall_s / r.wall_s:>8.2f}x "
            f"{r.tests:>6}  {r.balanced_by}"
        )
    bad = [r.label for r in results if r.tests != base.tests]
    print()
    print(
        f"note: this machine has {cores} cores, so on an idle machine concurrent shards here "
        f"cannot exceed ~{cores / max(1, ns.runner_cpus):.0f}x over one {ns.runner_cpus}-CPU runner, "
        "whatever N is; on GitHub each shard is its own runner and N shards approach Nx."
    )
    if max(load_before, os.getloadavg()[0]) > cores:
        print(
            "note: the machine was busy with other work (load above its core count): N "
            "processes then win a larger share of the CPU than one, so ratios above "
            f"~{cores}x measure the contention as much as the sharding."
        )
    if bad:
        print(f"error: test counts differ from the unsharded run in: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
