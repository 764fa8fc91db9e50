"""A real, small :class:`RunContext` (and a ProviderContext on it) for tests of the plugin API.

Everything is the real thing: config loaded from a pyproject.toml, a redactor, a console writing
to a buffer, an event log in ``dist/gopipe``, the Go toolchain on PATH and a fresh plugin manager.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import pluggy

from gopipe.config import load_config
from gopipe.console import Console
from gopipe.context import ProviderContext, RunArgs, RunContext
from gopipe.events import EventLog
from gopipe.git import GitInfo
from gopipe.gotools import GoToolchain
from gopipe.manager import create_manager
from gopipe.proc import ProcessTracker
from gopipe.registry import ProviderRegistry
from gopipe.secrets import Redactor

O = TypeVar("O")  # noqa: E741

GIT = GitInfo(
    sha="3f2a9c1d5e6b7a8091a2b3c4d5e6f708192a3b4c",
    short_sha="3f2a9c1",
    branch="main",
    tag=None,
    version="1.4.0",
    dirty=False,
    commit_time=1767323045,
    author="Lin Wei",
    subject="feat: greet",
    remote_url=None,
    default_branch="main",
)


def make_run(
    root: Path,
    *,
    pm: pluggy.PluginManager | None = None,
    env: Mapping[str, str] | None = None,
    args: RunArgs | None = None,
) -> RunContext:
    """A run of the repository at ``root``; its pyproject.toml (if any) is the config,
    validated against ``pm``'s plugins as a run does."""
    root.mkdir(parents=True, exist_ok=True)
    redactor = Redactor()
    manager = pm or create_manager((), entry_points=False)
    config = ProviderRegistry.collect(manager).validate(load_config(root), redactor)
    environ = {**os.environ, **(env or {})}
    return RunContext(
        config=config,
        git=GIT,
        redactor=redactor,
        console=Console(redactor, stream=io.StringIO()),
        events=EventLog(config.out / "events.jsonl", redactor, GIT.sha),
        go=GoToolchain(root, environ),
        pm=manager,
        args=args or RunArgs(),
        env=environ,
    )


def console_text(run: RunContext) -> str:
    """What the run printed on its console so far."""
    stream = run.console.stream
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


def provider_context(
    run: RunContext, stage: str, provider: str, options: O, log: list[str] | None = None
) -> ProviderContext[O]:
    """The context the runner would hand ``provider``; log lines go to ``log``."""
    lines = log if log is not None else []
    return ProviderContext(run, stage, provider, options, ProcessTracker(), lines.append)
