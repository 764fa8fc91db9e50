"""One gopipe run from start to finish: config → plan → stages → report.

Used by ``gopipe run`` and by the nox sessions alike, so both behave identically.
Bad input ends the run with exit code 2 and one line, but the report is still written
and the notifiers still run when their own config is valid.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from gopipe.config import Config, load_config
from gopipe.console import Console, make_console
from gopipe.context import RunArgs, RunContext
from gopipe.errors import ConfigError, GopipeError
from gopipe.events import EventLog
from gopipe.git import UNKNOWN, GitInfo, read_git_info
from gopipe.gotools import GoToolchain
from gopipe.manager import create_manager, disabled_from_env
from gopipe.plan import Plan, make_plan
from gopipe.registry import ProviderRegistry, SelectedProvider
from gopipe.report import Report
from gopipe.runner import Runner
from gopipe.secrets import Redactor
from gopipe.stages import Stage


def new_redactor(environ: dict[str, str]) -> Redactor:
    """A redactor that also tells GitHub Actions to mask secrets learned at run time."""
    github = environ.get("GITHUB_ACTIONS") == "true"

    def add_mask(value: str) -> None:
        if github and "\n" not in value:
            sys.stdout.write(f"::add-mask::{value}\n")
            sys.stdout.flush()

    redactor = Redactor(on_new_secret=add_mask)
    redactor.add_from_environ(environ)
    return redactor


def run_pipeline(
    targets: Sequence[str],
    *,
    root: Path = Path("."),
    config_file: Path | None = None,
    args: RunArgs | None = None,
    plain: bool | None = None,
    notify: bool = True,
    console: Console | None = None,
) -> int:
    """Run ``targets`` (pipelines or stages) in ``root``; return the process exit code."""
    environ = dict(os.environ)
    redactor = new_redactor(environ)
    console = console or make_console(redactor, plain=plain)
    root = root.resolve()
    args = args or RunArgs(pipeline="+".join(targets))
    try:
        config = load_config(root, config_file)
    except ConfigError as exc:
        return _fail_before_config(exc, root, console, redactor, targets)

    git = read_git_info(root, environ)
    config.out.mkdir(parents=True, exist_ok=True)
    events = EventLog(config.out / "events.jsonl", redactor, git.sha)
    go = GoToolchain(root, {**environ, **config.settings.env})
    error: GopipeError | None = None
    try:
        pm = create_manager((*config.settings.disable_plugins, *disabled_from_env(environ)))
    except ConfigError as exc:
        pm = create_manager((), entry_points=False)
        error = exc
    run = RunContext(
        config=config,
        git=git,
        redactor=redactor,
        console=console,
        events=events,
        go=go,
        pm=pm,
        args=args,
        env={**environ, **config.settings.env},
    )
    plan = make_plan([])
    selected: dict[Stage, list[SelectedProvider]] = {}
    try:
        plan = make_plan(targets, notify=notify)
        registry = ProviderRegistry.collect(pm)
        for stage in (*plan.stages, Stage.NOTIFY):
            try:
                selected[stage] = registry.select(config, stage, redactor)
            except ConfigError as exc:
                error = error or exc
        if error is None and plan.stages:
            go.require(config.display_file)
    except ConfigError as exc:
        error = error or exc
    if error is None:
        try:
            pm.hook.gopipe_configure(config=config)
        except ConfigError as exc:
            error = exc
    if error is not None:
        console.error(str(error))
        plan = Plan(name=plan.name if plan.stages else "+".join(targets), stages=(), needs={}, notify=notify)
        selected = {Stage.NOTIFY: selected.get(Stage.NOTIFY, [])}
    report = _execute(Runner(run, plan, selected, preflight_error=error), run)
    return report.exit_code


def _execute(runner: Runner, run: RunContext) -> Report:
    with _cancel_on_signals(run):
        report = runner.execute()
    try:
        run.pm.hook.gopipe_run_finished(run=run, report=report)
    except Exception as exc:  # an observer's bug must not lose the report
        run.console.error(f"plugin hook gopipe_run_finished failed: {type(exc).__name__}: {exc}")
    report.write(run.out / "report.json", run.redactor)
    run.events.emit(
        "run_finished",
        pipeline=report.pipeline,
        status=report.status,
        duration_s=round(report.duration_s, 3),
        exit_code=report.exit_code,
        error=report.error,
    )
    run.events.close()
    run.console.finish(report)
    return report


@contextmanager
def _cancel_on_signals(run: RunContext) -> Iterator[None]:
    """Ctrl-C / SIGTERM: stop child process groups, finish the report as cancelled."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if not run.tracker.cancelled.is_set():
            run.console.error(f"received {signal.Signals(signum).name}: cancelling")
            threading.Thread(target=run.tracker.cancel, daemon=True).start()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _fail_before_config(
    exc: ConfigError, root: Path, console: Console, redactor: Redactor, targets: Sequence[str]
) -> int:
    """The config itself is unreadable: say so in one line and still write a report."""
    console.error(str(exc))
    report = Report(
        pipeline="+".join(targets),
        status="failed",
        started_at=time.time(),
        duration_s=0.0,
        git=_git_or_unknown(root),
        stages=[],
        artifacts=[],
        error=redactor(str(exc)),
        exit_code=exc.exit_code,
    )
    report.write(root / "dist" / "gopipe" / "report.json", redactor)
    return exc.exit_code


def _git_or_unknown(root: Path) -> GitInfo:
    try:
        return read_git_info(root)
    except Exception:
        return UNKNOWN


def load_for_inspection(root: Path, config_file: Path | None = None) -> tuple[Config, ProviderRegistry]:
    """Config and providers without running anything (``gopipe plugins``, ``schema``)."""
    config = load_config(root.resolve(), config_file)
    pm = create_manager((*config.settings.disable_plugins, *disabled_from_env()))
    return config, ProviderRegistry.collect(pm)
