"""Helpers the benchmarks share: test repositories, a synthetic module, alternating timing.

Every comparison times its two (or more) commands side by side in one run, alternating
A, B, A, B … after one untimed warm-up each, and reports medians and the ratio of medians.
The machine may be shared, so the load average is printed with every result.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "hello"
TARGETS = ("linux/amd64", "linux/arm64", "darwin/arm64", "windows/amd64")
LDFLAGS = "-s -w -X main.version=bench"  # gopipe appends -buildid=; the peers get it explicitly
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_AUTHOR_DATE": "2026-01-02T03:04:05Z",
    "GIT_COMMITTER_DATE": "2026-01-02T03:04:05Z",
}


def bench_env() -> dict[str, str]:
    """The environment for gopipe runs: this checkout's code first, bytecode compiled once."""
    paths = [str(ROOT / "src"), str(ROOT / "plugins"), str(ROOT)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def compile_bytecode() -> None:
    """A pip-installed gopipe ships bytecode; an editable checkout under
    PYTHONDONTWRITEBYTECODE=1 would recompile every module on every run."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "src"), str(ROOT / "plugins")],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def commit_all(repo: Path) -> None:
    env = {**os.environ, **GIT_ENV}
    if not (repo / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "bench", "--allow-empty"], cwd=repo, check=True, env=env)


def hello_repo(work: Path) -> Path:
    """A committed copy of examples/hello (main package ./cmd/hello)."""
    repo = work / "hello"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("dist", ".nox", ".git"))
    (repo / ".gitignore").write_text("/dist/\n/.nox/\n")
    commit_all(repo)
    return repo


def synthetic_repo(work: Path, packages: int = 160, tested_every: int = 8) -> Path:
    """A generated multi-package module (``example.com/synth``, main ``./cmd/synth``).

    ``packages`` packages in layers of 10; each imports two of the layer below, has a table,
    string formatting, sorting and a type with methods, so the binary links every package
    (with net/http and encoding/json, a few MB). Every ``tested_every``-th package has a
    table-driven test, as real services test some packages and not others.
    """
    repo = work / "synth"
    (repo / "cmd" / "synth").mkdir(parents=True)
    (repo / "go.mod").write_text("module example.com/synth\n\ngo 1.22\n")
    (repo / "README.md").write_text("# synth\n\nA generated module for benchmarks.\n")
    (repo / "LICENSE").write_text("Apache-2.0\n")
    for i in range(packages):
        pkg = repo / "internal" / f"p{i:03d}"
        pkg.mkdir(parents=True)
        below = [j for j in (i - 10, i - 9) if j >= 0 and j // 10 == i // 10 - 1]
        imports = "".join(f'\t"example.com/synth/internal/p{j:03d}"\n' for j in below)
        calls = "".join(f"\ttotal += p{j:03d}.Score(s)\n" for j in below)
        rows = ",\n".join(
            f'\t{{"k{i}_{r}", {r * 7 + i}, "{"abcdefgh"[r % 8] * (r % 5 + 1)}"}}' for r in range(40)
        )
        (pkg / "p.go").write_text(
            f"""// Package p{i:03d} is generated.
package p{i:03d}

import (
\t"fmt"
\t"sort"
\t"strings"
{imports})

type Item{i} struct {{
\tKey   string
\tValue int
\tTag   string
}}

var table{i} = []Item{i}{{
{rows},
}}

func (it Item{i}) String() string {{ return fmt.Sprintf("%s=%d(%s)", it.Key, it.Value, it.Tag) }}

// Score folds the table, the input and the packages below into one number.
func Score(s string) int {{
\ttotal := len(s)
\titems := append([]Item{i}(nil), table{i}...)
\tsort.Slice(items, func(a, b int) bool {{ return items[a].Value > items[b].Value }})
\tfor _, it := range items {{
\t\tif strings.Contains(s, it.Tag) {{
\t\t\ttotal += it.Value
\t\t}}
\t\ttotal += len(it.String()) % 7
\t}}
{calls}\treturn total
}}
"""
        )
        if i % tested_every == 0:
            (pkg / "p_test.go").write_text(
                f"""package p{i:03d}

import "testing"

func TestScore(t *testing.T) {{
\tfor _, s := range []string{{"", "abc", "hhhh", "aaaaa"}} {{
\t\tif Score(s) < len(s) {{
\t\t\tt.Fatalf("Score(%q) too small", s)
\t\t}}
\t}}
}}
"""
            )
    top = [i for i in range(packages) if i // 10 == (packages - 1) // 10]
    imports = "".join(f'\t"example.com/synth/internal/p{i:03d}"\n' for i in top)
    calls = "".join(f"\t\ttotal += p{i:03d}.Score(r.URL.Path)\n" for i in top)
    (repo / "cmd" / "synth" / "main.go").write_text(
        f"""package main

import (
\t"encoding/json"
\t"net/http"
\t"os"
{imports})

var version = "dev"

func main() {{
\thttp.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {{
\t\ttotal := 0
{calls}\t\t_ = json.NewEncoder(w).Encode(map[string]any{{"score": total, "version": version}})
\t}})
\tif len(os.Args) > 1 && os.Args[1] == "-version" {{
\t\tos.Stdout.WriteString(version + "\\n")
\t\treturn
\t}}
\t_ = http.ListenAndServe("127.0.0.1:0", nil)
}}
"""
    )
    (repo / ".gitignore").write_text("/dist/\n/.nox/\n")
    subprocess.run(["gofmt", "-w", "."], cwd=repo, check=True)
    commit_all(repo)
    return repo


def stable_work(name: str) -> Path:
    """A fresh directory at the same path on every run: Go's build and test caches key
    packages built without -trimpath by their directory, so a new temporary path each run
    would make every \"warm\" measurement cold."""
    path = Path(tempfile.gettempdir()) / f"gopipe-bench-{name}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def gopipe_config(main: str, *, extra: str = "") -> str:
    """The ``[tool.gopipe]`` table the benchmarks use: the peers' targets and ldflags."""
    targets = ", ".join(f'"{t}"' for t in TARGETS)
    return (
        f'[tool.gopipe]\nmain = ["{main}"]\ntargets = [{targets}]\n\n'
        f'[tool.gopipe.build.go]\nldflags = "{LDFLAGS}"\n\n{extra}'
    )


def timed(cmd: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(
            f"benchmark command failed ({done.returncode}): {' '.join(cmd)}\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return elapsed


@dataclass
class Side:
    """One side of a comparison: a label and how to run it (``before`` runs untimed)."""

    label: str
    cmd: Sequence[str]
    cwd: Path
    env: Mapping[str, str] | None = None
    before: Sequence[Sequence[str]] = ()
    times: list[float] = field(default_factory=list)

    def once(self) -> float:
        for step in self.before:
            subprocess.run(step, cwd=self.cwd, env=self.env, check=True, capture_output=True)
        return timed(self.cmd, self.cwd, self.env)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def alternate(sides: Sequence[Side], rounds: int, warmup: bool = True) -> None:
    """One untimed run each, then ``rounds`` rounds of each side in turn (order rotated)."""
    if warmup:
        for side in sides:
            side.once()
    for r in range(rounds):
        order = list(sides[r % len(sides) :]) + list(sides[: r % len(sides)])
        for side in order:
            side.times.append(side.once())


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


RESULTS_ENV = "GOPIPE_BENCH_RESULTS"  # run_all.py: where every figure is appended as JSON


def record(key: str, value: float, **extra: object) -> None:
    """Append one figure (``key``: which row of the issue's goals table) for run_all.py."""
    path = os.environ.get(RESULTS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"key": key, "value": value, "load": os.getloadavg()[0], **extra}) + "\n")


def report(title: str, a: Side, b: Side, goal: float | None = None, unit: str = "s", key: str = "") -> float:
    """Print both sides and the ratio of medians a/b; return the ratio (recorded as *key*)."""
    scale, digits = (1000.0, 1) if unit == "ms" else (1.0, 2)
    ratio = a.median / b.median
    print(f"== {title}  ({load()})")
    for side in (a, b):
        runs = " ".join(f"{t * scale:.{digits}f}" for t in side.times)
        print(f"   {side.label:<40} median {side.median * scale:8.{digits}f}{unit}  runs {runs}")
    met = "MET" if goal is not None and ratio <= goal else "missed"
    verdict = "" if goal is None else f"  goal <= {goal:.2f}: {met}"
    print(f"   ratio {a.label} / {b.label} = {ratio:.3f}{verdict}", flush=True)
    if key:
        record(key, ratio, a=a.median, b=b.median, rounds=len(a.times))
    return ratio
