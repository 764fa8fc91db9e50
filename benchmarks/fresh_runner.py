#!/usr/bin/env python3
"""A fresh CI runner with a warm remote cache, against a cold run and an actions/cache tarball.

Each scenario starts like a new runner: an empty Go build cache, no ``dist/`` and no gopipe
cache (the Go module cache stays warm: downloads are not what is measured). The remote cache
is a real local registry (Debian ``docker-registry``, plain HTTP on 127.0.0.1), filled by one
trusted run of the same commit, as the default branch's ci job would. Scenarios, on a copy of
examples/hello built for linux/amd64 (``gopipe run build``):

* cold: no remote cache, empty ``GOCACHE``;
* same commit: remote cache warm; the build stage is restored from the registry;
* one file changed: the build stage misses; Go's cache comes through GOCACHEPROG, entry by entry;
* tarball (the anchor): ``tar -x`` of the whole ``GOCACHE`` the previous commit left, as
  ``actions/cache`` restores it, then the one-file-changed build on plain ``GOCACHE``.

It also measures the cache program itself: requests per second during the cold GOCACHEPROG
build, and a fully warm ``go build`` through GOCACHEPROG against a warm plain ``GOCACHE``.
Rounds alternate the scenarios; medians and ratios are printed.

    python benchmarks/fresh_runner.py [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import record  # noqa: E402
from tests.harness.registry import start_registry  # noqa: E402

EXAMPLE = ROOT / "examples" / "hello"
EDITED = "internal/greet/greet.go"


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return took


def git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b"}
    env["GIT_COMMITTER_EMAIL"] = "b@b"
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def make_repo(where: Path, remote: str | None) -> Path:
    repo = where / "hello"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("dist"))
    config = repo / "pyproject.toml"
    text = config.read_text()
    start = text.index("targets = [")
    text = text[:start] + 'targets = ["linux/amd64"]' + text[text.index("]", start) + 1 :]
    if remote:
        text += f'\n[tool.gopipe.cache]\nremote = "{remote}"\n'
    config.write_text(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "bench")
    return repo


def edit(repo: Path, n: int) -> None:
    path = repo / EDITED
    path.write_text(path.read_text() + f"\n// edit {n}\nconst Edit{n} = {n}\n")
    git(repo, "commit", "-qam", f"edit {n}")


class Runner:
    """One simulated runner: its own empty GOCACHE, gocacheprog directory and dist/."""

    def __init__(self, base: Path, name: str) -> None:
        self.home = base / name
        shutil.rmtree(self.home, ignore_errors=True)
        self.gocache = self.home / "go-build"
        self.prog_dir = self.home / "gocacheprog"
        self.stats = self.home / "gocacheprog.stats"
        self.gocache.mkdir(parents=True)

    def env(self, trusted: bool) -> dict[str, str]:
        env = {
            **os.environ,
            "GOCACHE": str(self.gocache),
            "GOPIPE_GOCACHEPROG_DIR": str(self.prog_dir),
            "GOPIPE_GOCACHEPROG_STATS": str(self.stats),
            "GITHUB_ACTIONS": "",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "plugins"), str(ROOT)]),
        }
        for key in ("GITHUB_EVENT_NAME", "GITHUB_REF", "GITHUB_EVENT_PATH", "GOCACHEPROG"):
            env.pop(key, None)
        if trusted:
            env |= {"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main"}
        return env

    def build(self, repo: Path, *, trusted: bool = False, no_cache: bool = False) -> float:
        shutil.rmtree(repo / "dist", ignore_errors=True)
        cmd = [sys.executable, "-m", "gopipe.cli", "run", "build", "--plain", "--no-notify"]
        return run(cmd + (["--no-cache"] if no_cache else []), repo, self.env(trusted))

    def totals(self) -> dict[str, int]:
        """The cache programs' counters of this runner, summed over its go commands."""
        found: dict[str, int] = {}
        if self.stats.is_file():
            for line in self.stats.read_text().splitlines():
                for key, value in json.loads(line).items():
                    found[key] = found.get(key, 0) + value
        return found

    def requests(self) -> int:
        totals = self.totals()
        return totals.get("get", 0) + totals.get("put", 0)


def median(values: list[float]) -> float:
    return statistics.median(values)


class Round:
    """One round's repositories (one with the remote cache, one without) and its timings."""

    def __init__(
        self, work: Path, registry_host: str, number: int, note: Callable[[str, float], None]
    ) -> None:
        self.work, self.number, self.note = work, number, note
        self.cached = make_repo(work / "remote", f"oci+http://{registry_host}/bench-{number}")
        self.plain = make_repo(work / "plain", None)
        self.rate = 0.0
        self.fresh_rate = 0.0
        self.answers: dict[str, int] = {}

    def cold(self) -> None:
        self.note("cold", Runner(self.work, "cold").build(self.plain, no_cache=True))

    def remote(self) -> None:
        ci = Runner(self.work, "ci")  # the default branch's ci job fills the cache
        start = time.perf_counter()
        ci.build(self.cached, trusted=True)
        self.rate = ci.requests() / (time.perf_counter() - start)
        self.note("same commit, remote cache", Runner(self.work, "fresh1").build(self.cached))
        edit(self.cached, self.number)
        fresh = Runner(self.work, "fresh2")
        took = fresh.build(self.cached)
        self.note("one file changed, remote cache", took)
        self.fresh_rate = fresh.requests() / took
        self.answers = fresh.totals()

    def tarball(self) -> None:
        prev = Runner(self.work, "tar-source")
        prev.build(self.plain, no_cache=True)  # the previous commit's GOCACHE, as ci left it
        archive = self.work / "gocache.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(prev.gocache, arcname="go-build")
        edit(self.plain, self.number)
        fresh = Runner(self.work, "tar-restore")
        shutil.rmtree(fresh.gocache)
        start = time.perf_counter()
        with tarfile.open(archive) as tar:
            tar.extractall(fresh.home, filter="data")
        restore = time.perf_counter() - start
        self.note("one file changed, tarball restore", restore + fresh.build(self.plain, no_cache=True))

    def overhead(self) -> None:
        """The cache program's own cost: a fully warm ``go build`` through it and without it."""
        target = self.work / "overhead"
        shutil.copytree(self.plain, target, ignore=shutil.ignore_patterns("dist", ".git"))
        env = Runner(self.work, "overhead-runner").env(False)
        go_build = ["go", "build", "-trimpath", "-o", str(target / "out"), "./cmd/hello"]
        prog_env = {**env, "GOCACHEPROG": f"{sys.executable} -m gopipe.remote_cache.gocacheprog"}
        run(go_build, target, env)
        run(go_build, target, prog_env)
        for _ in range(3):
            self.note("warm go build, GOCACHE", run(go_build, target, env))
            self.note("warm go build, GOCACHEPROG (local)", run(go_build, target, prog_env))


RATIOS = (
    ("fresh-same", "same commit, remote cache", "cold"),
    ("fresh-one", "one file changed, remote cache", "cold"),
    ("fresh-one-vs-tarball", "one file changed, remote cache", "one file changed, tarball restore"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    times: dict[str, list[float]] = {}
    rates: list[float] = []
    fresh_rates: list[float] = []
    loads: list[float] = []

    def note(name: str, value: float) -> None:
        times.setdefault(name, []).append(value)
        print(f"  {name:<40} {value:7.2f}s", flush=True)
        # each ratio as soon as both sides exist: run_all.py keeps them if the budget stops us
        for key, top, bottom in RATIOS:
            if name in (top, bottom) and times.get(top) and times.get(bottom):
                record(key, median(times[top]) / median(times[bottom]))

    with tempfile.TemporaryDirectory(prefix="gopipe-fresh-runner-") as tmp_name:
        tmp = Path(tmp_name)
        with start_registry(tmp / "registry", tls=False, auth=False) as registry:
            for number in range(args.rounds):
                loads.append(os.getloadavg()[0])
                print(f"round {number + 1}/{args.rounds}  (load average {loads[-1]:.1f})", flush=True)
                rnd = Round(tmp / f"round{number}", registry.host, number, note)
                order = [rnd.cold, rnd.remote, rnd.tarball]
                for scenario in reversed(order) if number % 2 else order:  # alternate the order
                    scenario()
                rnd.overhead()
                rates.append(rnd.rate)
                fresh_rates.append(rnd.fresh_rate)
                answers = ", ".join(f"{k} {v}" for k, v in sorted(rnd.answers.items()))
                print(f"  one file changed, cache program answers: {answers}", flush=True)
                loads.append(os.getloadavg()[0])

    cold_s = median(times["cold"])
    same = median(times["same commit, remote cache"])
    one = median(times["one file changed, remote cache"])
    tar = median(times["one file changed, tarball restore"])
    print()
    print(f"cold run (median)                          {cold_s:7.2f}s")
    print(f"same commit, remote cache / cold           {same / cold_s:7.3f}   (goal <= 0.15)")
    print(f"one file changed, remote cache / cold      {one / cold_s:7.3f}   (goal <= 0.40)")
    print(f"one file changed, tarball restore / cold   {tar / cold_s:7.3f}")
    print(f"one file changed, remote / tarball         {one / tar:7.3f}   (goal < 1)")
    warm = median(times["warm go build, GOCACHE"])
    prog = median(times["warm go build, GOCACHEPROG (local)"])
    print(f"warm go build, GOCACHEPROG / GOCACHE       {prog / warm:7.3f}   ({prog - warm:+.2f}s)")
    print(f"gocacheprog requests/s, cold build + puts  {median(rates):7.0f}")
    print(f"gocacheprog requests/s, one file changed   {median(fresh_rates):7.0f}   (over the whole run)")
    print(f"load average (1 min) at round starts/ends  {min(loads):.1f} .. {max(loads):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
