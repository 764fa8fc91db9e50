#!/usr/bin/env python3
"""`nox -s ci` versus the same Go commands as a plain sequential shell script.

Both run on a committed copy of examples/hello and on a generated multi-package module
(``--packages``), with warm Go caches (one untimed warm-up each), alternating A/B for N
rounds; the medians and the ratio gopipe/shell are printed. Two modes each: ``warm`` (Go's
test cache may answer) and ``count1`` (``-count=1``: every test really runs, in gopipe through
``[tool.gopipe.test.go] flags``). gopipe runs with ``--no-cache`` for that comparison (the
shell script has no stage cache); a no-op rerun that hits gopipe's stage cache is measured
separately against the warm script.
The shell script runs exactly what gopipe's default CI providers run: gofmt -l, go vet,
staticcheck, go test -race -covermode=atomic -coverprofile, go tool cover -func and -html,
and CGO_ENABLED=0 go build -trimpath for every target.

    python benchmarks/ci_vs_shell.py [--rounds 3] [--packages 120] [--modules hello,synth]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    EXAMPLE,
    LDFLAGS,
    TARGETS,
    Side,
    alternate,
    bench_env,
    commit_all,
    compile_bytecode,
    gopipe_config,
    hello_repo,
    load,
    report,
    stable_work,
    synthetic_repo,
)

GOAL_NO_CACHE = 0.9
GOAL_NOOP = 0.10


def shell_script(staticcheck: Path, main: str, count1: bool) -> str:
    name = main.rsplit("/", 1)[-1]
    builds = "\n".join(
        f"CGO_ENABLED=0 GOOS={t.split('/')[0]} GOARCH={t.split('/')[1]} go build -trimpath "
        f"-ldflags='{LDFLAGS} -buildid=' -o dist/sh/{name}_{t.replace('/', '_')}/{name} {main}"
        for t in TARGETS
    )
    count = " -count=1" if count1 else ""
    return f"""set -e
mkdir -p dist/sh
test -z "$(gofmt -l .)"
go vet ./...
{staticcheck} ./...
CGO_ENABLED=1 go test -race{count} -covermode=atomic -coverprofile=dist/sh/coverage.out ./... >/dev/null
go tool cover -func=dist/sh/coverage.out >/dev/null
go tool cover -html=dist/sh/coverage.out -o dist/sh/coverage.html
{builds}
"""


def configure(repo: Path, main: str, count1: bool) -> None:
    """gopipe's config for the mode (committed, so git describe sees a clean tree)."""
    flags = '[tool.gopipe.test.go]\nflags = ["-count=1"]\n\n' if count1 else ""
    extra = flags + '[tool.gopipe.coverage]\nproviders = ["summary", "threshold", "cobertura", "html"]\n'
    (repo / "pyproject.toml").write_text(gopipe_config(main, extra=extra))
    shutil.copy(EXAMPLE / "noxfile.py", repo / "noxfile.py")
    commit_all(repo)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--packages", type=int, default=120)
    parser.add_argument("--modules", default="hello,synth")
    parser.add_argument("--modes", default="warm,count1")
    args = parser.parse_args()
    from gopipe.gotools import TOOLS, GoToolchain

    compile_bytecode()
    env = bench_env()
    work = Path(tempfile.mkdtemp(prefix="gopipe-bench-"))
    print(f"ci_vs_shell: {args.rounds} rounds, alternating, warm Go caches; {load()}")
    makers = {"hello": (hello_repo, "./cmd/hello"), "synth": (None, "./cmd/synth")}
    summary: list[str] = []
    for module in args.modules.split(","):
        make, main_pkg = makers[module]
        repo = make(work) if make else synthetic_repo(stable_work(f"synth-{args.packages}"), args.packages)
        staticcheck = GoToolchain(repo, dict(os.environ)).tool(TOOLS["staticcheck"])
        for mode in args.modes.split(","):
            count1 = mode == "count1"
            configure(repo, main_pkg, count1)
            script = work / f"ci-{module}-{mode}.sh"
            script.write_text(shell_script(staticcheck, main_pkg, count1))
            nox = [sys.executable, "-m", "nox", "-s", "ci", "--"]
            gopipe = Side("nox -s ci --no-cache", [*nox, "--plain", "--no-notify", "--no-cache"], repo, env)
            shell = Side("shell script", ["bash", str(script)], repo, env)
            alternate([gopipe, shell], args.rounds)
            ratio = report(
                f"{module} [{mode}]: ci --no-cache vs plain script",
                gopipe,
                shell,
                GOAL_NO_CACHE,
                key=f"ci-{mode}/{module}",
            )
            summary.append(f"{module:<6} {mode:<7} ci/script {ratio:.3f} (goal <= {GOAL_NO_CACHE})")
            if mode == "warm":
                noop = Side("nox -s ci (no-op rerun)", [*nox, "--plain", "--no-notify"], repo, env)
                noop.once()  # fills the stage cache
                alternate([noop], args.rounds * 2, warmup=False)
                ratio = report(
                    f"{module}: no-op rerun vs plain script", noop, shell, GOAL_NOOP, key=f"noop/{module}"
                )
                summary.append(f"{module:<6} no-op   rerun/script {ratio:.3f} (goal <= {GOAL_NOOP})")
    print("summary:")
    for line in summary:
        print("   " + line)
    print(f"done; {load()}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
