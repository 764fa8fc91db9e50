"""What ``gopipe init`` learns about a repository to fit its ``[tool.gopipe]`` table.

The main packages the build would find (``go list``), the linters the repository already
chose (a ``.golangci.yml`` → golangci-lint), and, only when asked with ``--measure``, the
current total coverage as a suggested threshold. Measuring runs the tests, so it is opt-in
and bounded by :data:`MEASURE_LIMIT_S`: past it, the whole ``go test`` process group is
stopped and no threshold is suggested.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gopipe.config.repo_linters import golangci_config
from gopipe.gotools import GoToolchain

MEASURE_LIMIT_S = 300.0


@dataclass(frozen=True)
class Fit:
    """What the table says about this repository."""

    go_module: bool = False
    mains: tuple[str, ...] = ()  # main packages, as ./relative paths
    found_by_default: bool = True  # the build's own search (./cmd/*, else .) finds the same
    golangci: str | None = None  # the repository's golangci-lint config, relative
    coverage: float | None = None  # measured total coverage, percent
    notes: list[str] = field(default_factory=list)


def fit_repository(root: Path, *, measure: bool = False, limit_s: float = MEASURE_LIMIT_S) -> Fit:
    """Look at the repository at ``root`` (nothing is written)."""
    root = root.resolve()
    config = golangci_config(root)
    golangci = os.path.relpath(config, root) if config else None
    go = GoToolchain(root, os.environ)
    if go.go is None or not (root / "go.mod").is_file():
        return Fit(golangci=golangci)
    packages = go.packages()
    mains = sorted(
        "./" + os.path.relpath(p.dir, root) if p.dir != root else "."
        for p in packages
        if p.is_main and p.dir.is_relative_to(root)
    )
    default = sorted(
        "./" + os.path.relpath(p.dir, root) for p in packages if p.is_main and p.dir.parent == root / "cmd"
    )
    if not default and "." in mains:
        default = ["."]
    notes: list[str] = []
    coverage = None
    if measure:
        coverage = measure_coverage(go.go, root, limit_s, notes)
    return Fit(
        go_module=True,
        mains=tuple(mains),
        found_by_default=default == mains,
        golangci=golangci,
        coverage=coverage,
        notes=notes,
    )


def measure_coverage(go: str, root: Path, limit_s: float, notes: list[str]) -> float | None:
    """Total statement coverage of ``go test ./...`` in percent, or ``None`` (with a note)."""
    with tempfile.TemporaryDirectory(prefix="gopipe-init-") as tmp:
        profile = Path(tmp) / "cover.out"
        proc = subprocess.Popen(
            [go, "test", "-count=1", f"-coverprofile={profile}", "./..."],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a timeout stops go test and every test binary it started
        )
        try:
            code = proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            notes.append(f"coverage not measured: go test took longer than {limit_s:.0f}s")
            return None
        if code != 0 or not profile.is_file():
            notes.append(f"coverage not measured: go test ./... failed (exit {code})")
            return None
        return total_coverage(profile.read_text(errors="replace"))


def total_coverage(profile: str) -> float | None:
    """Statement coverage of a Go cover profile (blocks counted once, as ``go tool cover``)."""
    blocks: dict[str, tuple[int, bool]] = {}
    for line in profile.splitlines()[1:]:
        try:
            where, statements, count = line.rsplit(" ", 2)
            n, hit = int(statements), int(count) > 0
        except ValueError:
            continue
        seen = blocks.get(where)
        blocks[where] = (n, hit or (seen is not None and seen[1]))
    total = sum(n for n, _ in blocks.values())
    if not total:
        return None
    return 100.0 * sum(n for n, hit in blocks.values() if hit) / total
