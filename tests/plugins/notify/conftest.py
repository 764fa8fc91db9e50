"""Fixtures for the notify/observe tests: local service receivers and one-notifier runs.

``send`` runs one real notifier (options parsed from a real pyproject table by the real
registry) against a report built here, so each bot's behaviour can be checked without a
Go build. End-to-end tests use the ``gopipe_run`` fixture instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.plugins.notify.receiver import Receiver, Service

from gopipe.artifacts import Artifact, ArtifactStore
from gopipe.config import load_config
from gopipe.console import Console
from gopipe.context import ProviderContext, RunArgs, RunContext
from gopipe.errors import StageFailed
from gopipe.events import EventLog
from gopipe.git import GitInfo
from gopipe.gotools import GoToolchain
from gopipe.manager import create_manager
from gopipe.proc import ProcessTracker
from gopipe.registry import ProviderRegistry
from gopipe.report import ProviderResult, Report, StageResult
from gopipe.secrets import Redactor
from gopipe.stages import Stage

GIT = GitInfo(
    sha="3f2a9c1d5e6b7a8091a2b3c4d5e6f708192a3b4c",
    short_sha="3f2a9c1",
    branch="main",
    tag=None,
    version="1.4.0-3-g3f2a9c1",
    dirty=False,
    commit_time=1767323045,
    author="Lin Wei",
    subject="fix: handle empty greeting",
    remote_url="https://git.example.com/acme/hello",
    default_branch="main",
)
CI_URL = "https://ci.example.com/acme/hello/actions/runs/42"
LINT_DETAILS = "\n".join(f"internal/greet/greet.go:{n}:1: file is not gofmt-ed (gofmt)" for n in range(1, 13))


def sample_report(status: str = "failed", *, details: str = LINT_DETAILS, git: GitInfo = GIT) -> Report:
    """A realistic CI+CD report: lint failed (or not), coverage, an image and a deployment."""
    lint_failed = status == "failed"
    lint = StageResult(
        "lint",
        "failed" if lint_failed else "success",
        2.71,
        error=("gofmt: 12 files are not gofmt-ed, first internal/greet/greet.go" if lint_failed else None),
        providers=[
            ProviderResult(
                "gofmt",
                "failed" if lint_failed else "success",
                0.2,
                error="12 files are not gofmt-ed" if lint_failed else None,
                details=details if lint_failed else "",
            )
        ],
    )
    stages = [
        lint,
        StageResult("test", "success", 4.52, summary="3/3 tests passed in 2 packages"),
        StageResult("coverage", "success", 0.12, summary="coverage 87.5%"),
        StageResult(
            "build",
            "success" if status != "cancelled" else "cancelled",
            3.08,
            summary="4 binaries for 4 targets",
        ),
    ]
    artifacts = [
        Artifact("coverage-summary", "coverage.md", "dist/gopipe/coverage.md", extra={"percent": 87.5}),
        Artifact(
            "image",
            "hello",
            extra={"reference": "registry.example.com/acme/hello", "digest": "sha256:" + "ab" * 32},
        ),
        Artifact("deployment", "staging", extra={"environment": "staging", "outcome": "success"}),
    ]
    return Report(
        pipeline="ci",
        status=status,
        started_at=1767323100.0,  # type: ignore[arg-type]
        duration_s=11.4,
        git=git,
        stages=stages,
        artifacts=artifacts,
        exit_code={"success": 0, "failed": 1, "cancelled": 130}[status],
        ci_url=CI_URL,
    )


@dataclass
class Sent:
    """What one notifier run did."""

    error: StageFailed | None
    summary: str
    log: list[str]
    run: RunContext


@pytest.fixture
def receiver() -> Iterator[Callable[[Service], Receiver]]:
    started: list[Receiver] = []

    def start(service: Service) -> Receiver:
        r = Receiver(service).start()
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop()


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private gopipe cache for the "fixed" memory (Go tools are not needed here)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("GOPIPE_CACHE", str(cache))
    return cache


@pytest.fixture
def send(tmp_path: Path, state_dir: Path) -> Callable[..., Sent]:
    """Run one notifier with a ``[tool.gopipe.notify.<name>]`` table (TOML text)."""

    def run(provider: str, table: str, report: Report | None = None, *, root: Path | None = None) -> Sent:
        repo = root or tmp_path / "repo"
        repo.mkdir(exist_ok=True)
        (repo / "pyproject.toml").write_text(
            f'[tool.gopipe.notify]\nproviders = ["{provider}"]\n\n[tool.gopipe.notify.{provider}]\n{table}\n'
        )
        config = load_config(repo)
        redactor = Redactor()
        redactor.add_from_environ(dict(os.environ))
        pm = create_manager(entry_points=False)
        (selected,) = ProviderRegistry.collect(pm).select(config, Stage.NOTIFY, redactor)
        rep = report or sample_report()
        run_ctx = RunContext(
            config=config,
            git=rep.git,
            redactor=redactor,
            console=Console(redactor),
            events=EventLog(config.out / "events.jsonl", redactor, rep.git.sha),
            go=GoToolchain(repo, dict(os.environ)),
            pm=pm,
            args=RunArgs(),
            artifacts=ArtifactStore(),
            report=rep,
            env=dict(os.environ),
        )
        lines: list[str] = []
        ctx: ProviderContext[object] = ProviderContext(
            run_ctx, "notify", provider, selected.options, ProcessTracker(), lines.append
        )
        error = None
        try:
            selected.registered.provider.run(ctx)
        except StageFailed as exc:
            error = exc
        run_ctx.events.close()
        return Sent(error, ctx.summary, lines, run_ctx)

    return run
