#!/usr/bin/env python3
"""gopipe's own overhead: ``--help``, ``plugins`` and a no-op ``run ci`` against ``python -c pass``.

Every command runs with this interpreter directly (no shim), bytecode compiled once, the
same environment, alternating with ``python -c pass`` in each round; medians in
milliseconds. The no-op run is ``gopipe run ci`` on a committed copy of examples/hello
whose stage cache was filled by one untimed run, so every stage is restored from the cache.

    python benchmarks/startup.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Side, alternate, bench_env, compile_bytecode, hello_repo, load, record, report

GOAL_HELP_MS = 40.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    compile_bytecode()
    env = bench_env()
    work = Path(tempfile.mkdtemp(prefix="gopipe-startup-"))
    repo = hello_repo(work)
    py = sys.executable
    gopipe = [py, "-m", "gopipe.cli"]
    print(f"startup: {args.rounds} rounds, alternating with python -c pass; {load()}")
    results = {}
    for label, cmd, rounds in (
        ("gopipe --help", [*gopipe, "--help"], args.rounds),
        ("gopipe plugins", [*gopipe, "plugins"], args.rounds),
        ("gopipe run ci (no-op)", [*gopipe, "run", "ci", "--plain", "--no-notify"], max(5, args.rounds // 3)),
    ):
        a = Side(label, cmd, repo, env)
        b = Side("python -c pass", [py, "-c", "pass"], repo, env)
        alternate([a, b], rounds)
        report(label, a, b, unit="ms", key=f"startup/{label}")
        record(f"startup-ms/{label}", a.median * 1000)
        results[label] = (a.median, b.median)
    help_ms = results["gopipe --help"][0] * 1000
    base_ms = results["gopipe --help"][1] * 1000
    print(
        f"gopipe --help: {help_ms:.1f} ms wall ({help_ms - base_ms:.1f} ms over python -c pass); "
        f"goal <= {GOAL_HELP_MS:.0f} ms: {'MET' if help_ms <= GOAL_HELP_MS else 'missed'}"
    )
    print(f"done; {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
