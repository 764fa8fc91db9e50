#!/usr/bin/env python3
"""`nox -s ci` versus the same Go commands as a plain sequential shell script.

Both run on a copy of examples/hello with warm Go caches (one untimed warm-up each),
alternating A/B for N rounds, and the medians and the ratio gopipe/shell are printed.
gopipe runs with ``--no-cache`` for that comparison (the shell script has no stage cache);
a no-op rerun that hits gopipe's stage cache is measured separately.
The shell script runs exactly what gopipe's default CI providers run: gofmt -l, go vet,
staticcheck, go test -race -covermode=atomic -coverprofile, go tool cover -html, and
CGO_ENABLED=0 go build -trimpath for every target.

    python benchmarks/ci_vs_shell.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "hello"
TARGETS = ("linux/amd64", "linux/arm64", "darwin/arm64", "windows/amd64")
LDFLAGS = "-s -w -X main.version=bench -X main.commit=bench -X main.date=bench -buildid="


def shell_script(staticcheck: Path) -> str:
    builds = "\n".join(
        f"CGO_ENABLED=0 GOOS={t.split('/')[0]} GOARCH={t.split('/')[1]} go build -trimpath "
        f"-ldflags='{LDFLAGS}' -o dist/sh/hello_{t.replace('/', '_')}/hello ./cmd/hello"
        for t in TARGETS
    )
    return f"""set -e
mkdir -p dist/sh
test -z "$(gofmt -l .)"
go vet ./...
{staticcheck} ./...
CGO_ENABLED=1 go test -race -covermode=atomic -coverprofile=dist/sh/coverage.out ./... >/dev/null
go tool cover -func=dist/sh/coverage.out >/dev/null
go tool cover -html=dist/sh/coverage.out -o dist/sh/coverage.html
{builds}
"""


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from gopipe.gotools import TOOLS, GoToolchain

    work = Path(tempfile.mkdtemp(prefix="gopipe-bench-"))
    repo = work / "hello"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("dist", ".nox"))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "b"], cwd=repo, check=True
    )
    staticcheck = GoToolchain(repo, dict(os.environ)).tool(TOOLS["staticcheck"])
    # A pip-installed gopipe ships bytecode; an editable checkout under PYTHONDONTWRITEBYTECODE=1
    # would recompile every module on every run, which is not what users run.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "src"), str(ROOT / "plugins")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    script = work / "ci.sh"
    script.write_text(shell_script(staticcheck))
    gopipe = [sys.executable, "-m", "nox", "-s", "ci", "--", "--plain", "--no-notify", "--no-cache"]
    noop = [sys.executable, "-m", "nox", "-s", "ci", "--", "--plain", "--no-notify"]
    shell = ["bash", str(script)]
    timed(gopipe, repo)  # warm-up: Go build/test caches, tool install
    timed(shell, repo)
    a: list[float] = []
    b: list[float] = []
    for _ in range(args.rounds):
        a.append(timed(gopipe, repo))
        b.append(timed(shell, repo))
    timed(noop, repo)  # fills the stage cache
    c = [timed(noop, repo) for _ in range(args.rounds)]
    ga, gb, gc = statistics.median(a), statistics.median(b), statistics.median(c)
    print(f"rounds: {args.rounds} (alternating, warm caches, {os.cpu_count()} cores)")
    print(f"nox -s ci        median {ga:6.2f}s  runs {' '.join(f'{x:.2f}' for x in a)}")
    print(f"shell script     median {gb:6.2f}s  runs {' '.join(f'{x:.2f}' for x in b)}")
    print(f"ratio gopipe/shell = {ga / gb:.3f}  (target <= 1.05; gopipe with --no-cache)")
    print(f"no-op rerun (stage cache hit) median {gc:6.2f}s  ratio to shell {gc / gb:.3f}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
