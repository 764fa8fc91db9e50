"""The hostile-input harness: a repository inside a sentinel directory, and the promises.

Every hostile case runs gopipe as a user would (a real ``python -m gopipe.cli`` process) in a
repository that sits inside a *sentinel* directory full of files that must survive, then
checks what gopipe promises whatever the input (``docs/security.md``):

- the exit code (2 for usage and config errors);
- no Python traceback in stdout or stderr;
- ``dist/gopipe/report.json`` is written (when the repository exists and dist can hold it);
- nothing outside the repository, inside the sentinel, was created, changed or deleted;
- no byte of a given secret (raw, URL-encoded or base64) in stdout, stderr or under ``dist/``;
- no process the run started is alive afterwards (found by a marker in their environment).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from gopipe.testing import make_git_repo

MARKER = "GOPIPE_HOSTILE_RUN"

GO_MOD = "module example.com/hostile\n\ngo 1.24\n"
MAIN_GO = (
    'package main\n\nimport "fmt"\n\nvar version = "dev"\n\nfunc main() { fmt.Println("hostile", version) }\n'
)


def secret_forms(secret: str) -> list[str]:
    """The forms a secret must never appear in: raw, percent-encoded, base64 (std and URL-safe)."""
    raw = secret.encode()
    return sorted(
        {
            secret,
            urllib.parse.quote(secret, safe=""),
            urllib.parse.quote_plus(secret),
            base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
        }
    )


@dataclass
class Outcome:
    """One gopipe run: its exit code, output and report (``None`` when none was written)."""

    code: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Sandbox:
    """``<tmp>/sentinel/repo``: a Go module in a git repository, inside files that must survive."""

    sentinel: Path
    repo: Path
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        self.before = self.snapshot()

    # -- set-up -------------------------------------------------------------------------
    def config(self, body: str) -> Path:
        """Replace ``[tool.gopipe]`` with ``body`` (TOML text under the table header)."""
        path = self.repo / "pyproject.toml"
        path.write_text("[tool.gopipe]\n" + body)
        return path

    def commit(self) -> None:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
        }
        subprocess.run(["git", "add", "-A"], cwd=self.repo, check=True, env=env)
        subprocess.run(
            ["git", "commit", "-qm", "change", "--allow-empty"], cwd=self.repo, check=True, env=env
        )

    # -- running ------------------------------------------------------------------------
    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 300,
    ) -> Outcome:
        """``python -m gopipe.cli ARGS`` in the repository, plain output, marked for the process check."""
        full = {**os.environ, "GITHUB_ACTIONS": "", MARKER: self.token, **(env or {})}
        proc = subprocess.run(
            [sys.executable, "-m", "gopipe.cli", *args],
            cwd=cwd or self.repo,
            env=full,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return Outcome(proc.returncode, proc.stdout, proc.stderr, self.report())

    def report(self) -> dict[str, Any] | None:
        path = self.repo / "dist" / "gopipe" / "report.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return data

    # -- the promises ---------------------------------------------------------------------
    def snapshot(self) -> dict[str, str]:
        """Every path under the sentinel but outside the repository, with its content digest."""
        seen: dict[str, str] = {}
        for dirpath, dirnames, filenames in os.walk(self.sentinel, followlinks=False):
            here = Path(dirpath)
            if here == self.repo:
                dirnames[:] = []
                continue
            for name in dirnames:
                if here / name != self.repo:
                    seen[str((here / name).relative_to(self.sentinel)) + "/"] = "dir"
            for name in filenames:
                path = here / name
                digest = (
                    "link:" + os.readlink(path)
                    if path.is_symlink()
                    else hashlib.sha256(path.read_bytes()).hexdigest()
                )
                seen[str(path.relative_to(self.sentinel))] = digest
        return seen

    def dist_text(self) -> str:
        """Everything gopipe wrote under the repository's ``dist/``, as text."""
        chunks = []
        for path in (self.repo / "dist").rglob("*") if (self.repo / "dist").is_dir() else ():
            if path.is_file() and not path.is_symlink():
                chunks.append(path.read_bytes().decode("utf-8", "replace"))
        return "\n".join(chunks)

    def survivors(self, grace: float = 3.0) -> list[str]:
        """Processes still alive whose environment carries this sandbox's marker."""
        deadline = time.monotonic() + grace
        while True:
            alive = []
            for proc in psutil.process_iter(["pid", "cmdline", "status"]):
                try:
                    if proc.info["status"] == psutil.STATUS_ZOMBIE:
                        continue
                    if proc.environ().get(MARKER) == self.token:
                        alive.append(f"{proc.pid} {' '.join(proc.info['cmdline'] or [])}")
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.2)

    def check(
        self,
        outcome: Outcome,
        *,
        code: int,
        report: bool = True,
        secrets: Sequence[str] = (),
        says: str | None = None,
    ) -> None:
        """Assert every promise; ``says`` is a fragment the one-line error must contain."""
        assert outcome.code == code, outcome.output[-3000:]
        assert "Traceback (most recent call last)" not in outcome.output, outcome.output[-3000:]
        if says is not None:
            assert says in outcome.output, outcome.output[-3000:]
        if report:
            assert outcome.report is not None, f"no report.json; output:\n{outcome.output[-2000:]}"
            assert outcome.report["exit_code"] == code
        assert self.snapshot() == self.before, "something outside the repository changed"
        written = outcome.output + self.dist_text()
        for secret in secrets:
            for form in secret_forms(secret):
                assert form not in written, f"a form of a secret leaked: {form[:4]}…"
        assert self.survivors() == []


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A small Go module with one main package in a git repository, inside a sentinel dir."""
    sentinel = tmp_path / "sentinel"
    repo = sentinel / "repo"
    (repo / "cmd" / "hostile").mkdir(parents=True)
    (repo / "go.mod").write_text(GO_MOD)
    (repo / "cmd" / "hostile" / "main.go").write_text(MAIN_GO)
    (repo / "pyproject.toml").write_text('[tool.gopipe]\ntargets = ["linux/amd64"]\n')
    make_git_repo(repo)
    for rel in ("keep.txt", "dist/keep.txt", "outside/deep/keep.txt", "etc/passwd"):
        (sentinel / rel).parent.mkdir(parents=True, exist_ok=True)
        (sentinel / rel).write_text(f"sentinel {rel}\n")
    yield Sandbox(sentinel=sentinel, repo=repo)
