"""One gopipe run from start to finish: config → plan → stages → notify → report.

:class:`RunSession` is the only place a run is assembled. ``gopipe run``, the nox sessions,
``gopipe merge`` and ``gopipe.testing.run_stage`` all go through it, so setup, observer hooks,
the report and the finish events cannot drift apart. Bad input ends the run with exit code 2
and one line, but the report is still written and the notifiers still run when their own
config is valid.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import pluggy

from gopipe.artifacts import Artifact
from gopipe.config import Config, load_config
from gopipe.config.loader import inert_tables
from gopipe.console import Console, make_console
from gopipe.context import RunArgs, RunContext
from gopipe.errors import ConfigError, GopipeError
from gopipe.events import EventLog
from gopipe.git import UNKNOWN, GitInfo, read_git_info
from gopipe.gotools import GoToolchain
from gopipe.manager import create_manager, disabled_from_env
from gopipe.outputs import remove_previous_outputs
from gopipe.plan import Plan, make_plan
from gopipe.registry import ProviderRegistry, SelectedProvider
from gopipe.release import LOOPBACK_UPLOADERS, SNAPSHOT_SKIP, prepare_release, snapshot_uploads
from gopipe.release_verify import release_gates
from gopipe.remote_cache.options import load_cache_options
from gopipe.report import Report, StageResult
from gopipe.requires import check_requires
from gopipe.runlock import LockBusy, run_lock, wait_limit
from gopipe.runner import Runner
from gopipe.secrets import Redactor, register_config_secrets
from gopipe.stages import Stage


@dataclass
class Prepared:
    """A plan made by the caller instead of :func:`~gopipe.plan.make_plan` (``gopipe merge``).

    :param plan: the stages of the run, in order.
    :param finished: results of plan stages that already ran elsewhere (other CI jobs); the
        runner reports them and runs only the rest.
    :param artifacts: artifacts those stages produced, visible to the stages that still run.
    :param git: the commit the work ran on, when it is not the checkout's.
    :param title: what the console shows instead of the plan's name.
    :param modules: per-module results for the report (a monorepo run, :mod:`gopipe.monorepo`).
    :param errors: bad input found while preparing that the report must carry (exit 2),
        e.g. a module's config error; the finished stages are still reported.
    """

    plan: Plan
    finished: dict[Stage, StageResult] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)
    git: GitInfo | None = None
    title: str | None = None
    modules: list[dict[str, Any]] = field(default_factory=list)
    errors: list[ConfigError] = field(default_factory=list)


Prepare = Callable[[Config, pluggy.PluginManager], Prepared]


def new_redactor(environ: Mapping[str, str]) -> Redactor:
    """A redactor that also tells GitHub Actions to mask secrets learned at run time."""
    github = environ.get("GITHUB_ACTIONS") == "true"

    def add_mask(value: str) -> None:
        if github and "\n" not in value:
            sys.stdout.write(f"::add-mask::{value}\n")
            sys.stdout.flush()

    redactor = Redactor(on_new_secret=add_mask)
    redactor.add_from_environ(dict(environ))
    return redactor


class RunSession:
    """Owns one run: setup, the stages, notify, the report and the finish events.

    :param root: the Go repository.
    :param config_file: the ``pyproject.toml`` to read (default ``root/pyproject.toml``).
    :param args: command-line choices (shards, targets, environment, cache).
    :param notify: run the notifiers after the stages.
    :param plain: plain console lines instead of the live table (default: decided by the TTY).
    :param stream: write plain console lines there (tests) instead of the default console.
    :param environ: the environment of the run (default ``os.environ``).
    :param pm: a plugin manager to take providers from (default: built-ins and entry points).
    :param config: the config, already loaded (a monorepo module's layered config) instead of
        reading ``config_file``.
    :param explain: turns a config error into the one naming the file and key that wrote it
        (a layered config, :mod:`gopipe.config.layers`).
    :param on_context: called with the run's context once it exists (a monorepo run cancels
        each module's processes through it).
    """

    def __init__(
        self,
        root: Path = Path("."),
        *,
        config_file: Path | None = None,
        args: RunArgs | None = None,
        notify: bool = True,
        plain: bool | None = None,
        stream: TextIO | None = None,
        environ: Mapping[str, str] | None = None,
        pm: pluggy.PluginManager | None = None,
        config: Config | None = None,
        explain: Callable[[ConfigError], ConfigError] | None = None,
        on_context: Callable[[RunContext], None] | None = None,
    ) -> None:
        self.root = root.resolve()
        self.config_file = config_file
        self.args = args
        self.notify = notify
        self.environ = dict(os.environ if environ is None else environ)
        self.redactor = new_redactor(self.environ)
        # the console masks with the run's own redactor, which learns secrets as the run goes
        self.console = (
            Console(self.redactor, stream=stream, environ=self.environ)
            if stream
            else make_console(self.redactor, plain=plain, environ=self.environ)
        )
        self.pm = pm
        self.config = config
        self.explain = explain or (lambda error: error)
        self.on_context = on_context
        self.started_at = time.time()
        self.config_error: ConfigError | None = None  # found while layering the config

    def run(self, targets: Sequence[str], *, prepare: Prepare | None = None) -> Report:
        """Run ``targets`` (pipelines or stages), or the plan ``prepare`` makes from the config."""
        name = "+".join(targets)
        self.started_at = time.time()
        try:
            if self.config_error is not None:
                raise self.config_error
            config = self.config or load_config(self.root, self.config_file)
        except ConfigError as exc:
            return self._unreadable_config(exc, name)
        try:
            config.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return self._unreadable_config(
                ConfigError(
                    config.display_file,
                    "tool.gopipe.dist",
                    f"cannot create {_shown(config.out, self.root)}: {exc.strerror}",
                    "remove what is in the way, or set dist to another directory",
                ),
                name,
            )
        try:
            with run_lock(config.out, wait_s=wait_limit(self.environ), say=self.console.error):
                remove_previous_outputs(config.out, config.root)  # no stale coverage.xml beside new ones
                return self._run(config, targets, name, prepare)
        except LockBusy as exc:
            self.console.error(f"error: {exc}; wait for it to finish, or give this run its own dist")
            return _report_only(name, UNKNOWN, str(exc), 2)

    def _run(self, config: Config, targets: Sequence[str], name: str, prepare: Prepare | None) -> Report:
        error: GopipeError | None = None
        pm = self.pm
        if pm is None:
            try:
                pm = create_manager(
                    (*config.settings.disable_plugins, *disabled_from_env(self.environ)), lazy=True
                )
            except ConfigError as exc:
                pm, error = create_manager((), entry_points=False, lazy=True), exc
        try:
            check_requires(config)  # a missing plugin package: say so before selection does
        except ConfigError as exc:
            error = error or exc
        try:
            prepared = prepare(config, pm) if prepare else None
        except ConfigError as exc:
            return self._unreadable_config(exc, name, out=config.out)
        try:
            git = prepared.git if prepared and prepared.git else _read_git(self.root, self.environ)
        except ConfigError as exc:
            git, error = UNKNOWN, error or exc
        env = {**self.environ, **config.settings.env}
        run = RunContext(
            config=config,
            git=git,
            redactor=self.redactor,
            console=self.console,
            events=EventLog(config.out / "events.jsonl", self.redactor, git.sha),
            go=GoToolchain(self.root, env),
            pm=pm,
            args=self.args or RunArgs(pipeline=name or "ci"),
            env=env,
        )
        if self.on_context is not None:
            self.on_context(run)
        for artifact in prepared.artifacts if prepared else ():
            run.artifacts.add(artifact)
        plan = prepared.plan if prepared else Plan(name or "ci", (), {}, self.notify)
        finished = prepared.finished if prepared else {}
        selected: dict[Stage, list[SelectedProvider]] = {}
        try:
            if prepared is None:
                plan = make_plan(targets, notify=self.notify)
            registry = ProviderRegistry.collect(pm)
            try:
                config = registry.validate(config, self.redactor)
            except ConfigError as exc:  # the notifiers still report it when their own table is valid
                error = error or exc
                config = registry.validate(config, self.redactor, stages=(Stage.NOTIFY,))
            run.config = config  # typed stage settings from here on
            to_run = [s for s in plan.stages if s not in finished]
            for stage in (*to_run, Stage.NOTIFY):
                try:
                    selected[stage] = registry.select(config, stage, self.redactor)
                except ConfigError as exc:
                    error = error or exc
            register_config_secrets(
                config.raw, self.redactor, self.root, file=config.display_file, kind=registry.secret_kind
            )
            load_cache_options(config)  # a bad [tool.gopipe.cache] is bad input, exit 2
            if error is None and to_run:
                run.go.require(config.display_file)
        except ConfigError as exc:
            error = error or exc
        for warning in inert_tables(config):
            self.console.error(f"warning: {warning}")
            run.events.emit("warning", message=warning)
        if error is None:
            try:
                pm.hook.gopipe_configure(config=config, args=run.args)
                if prepared is None:  # a merge releases nothing: its jobs did
                    prepare_release(run, publishing=Stage.PUBLISH in plan.stages)
            except ConfigError as exc:
                error = exc
        if error is None and run.args.snapshot:
            try:
                finished = {**finished, **_snapshot_skips(plan, config, selected)}
            except ConfigError as exc:
                error = exc
        if error is not None:
            error = self.explain(error) if isinstance(error, ConfigError) else error
            self.console.error(str(error))
            plan = Plan(plan.name, (), {}, self.notify)
            selected, finished = {Stage.NOTIFY: selected.get(Stage.NOTIFY, [])}, {}
        runner = Runner(
            run,
            plan,
            selected,
            preflight_error=error,
            finished=finished,
            title=prepared.title if prepared else None,
            gates=release_gates(run, plan) if prepared is None and error is None else None,
        )
        runner.config_errors.extend(prepared.errors if prepared else ())
        return self._finish(runner, run, prepared.modules if prepared else [])

    def _finish(self, runner: Runner, run: RunContext, modules: list[dict[str, Any]]) -> Report:
        """Execute, then the finish hooks, the report and the last event: always, in this order."""
        with _cancel_on_signals(run):
            report = runner.execute()
        if modules:  # the modules ran before this session's runner: count their time too
            report.modules = modules
            report.started_at = self.started_at
            report.duration_s = time.time() - self.started_at
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
        run.console.finish(report, {s.name: run.artifacts.findings(s.name) for s in report.stages})
        pointers = where_to_look(run.out)
        if pointers:
            run.console.line(pointers)
        return report

    def _unreadable_config(self, exc: ConfigError, name: str, *, out: Path | None = None) -> Report:
        """The config itself is unusable: say so in one line and still write a report if the
        repository exists (never create it, never write outside it, never under a running run)."""
        exc = self.explain(exc)
        self.console.error(str(exc))
        report = _report_only(name, _git_or_unknown(self.root), self.redactor(str(exc)), exc.exit_code)
        if not self.root.is_dir():
            return report
        try:
            if out is not None:  # the caller holds the lock on ``out``
                report.write(out / "report.json", self.redactor)
            else:
                default = self.root / "dist" / "gopipe"
                if not default.resolve().is_relative_to(self.root):  # a symlink out of the repository
                    self.console.error("report.json not written: dist/gopipe leaves the repository")
                    return report
                with run_lock(default, wait_s=0, say=lambda _: None):
                    report.write(default / "report.json", self.redactor)
        except LockBusy:
            self.console.error("report.json not written: another gopipe run is using dist/gopipe")
        except OSError as err:  # e.g. dist is a file: the one-line error above is all we can do
            self.console.error(f"report.json not written: {err.strerror}")
        return report


def _snapshot_skips(
    plan: Plan, config: Config, selected: Mapping[Stage, Sequence[SelectedProvider]]
) -> dict[Stage, StageResult]:
    """A snapshot builds and packages everything and publishes nothing; it uploads only with
    ``snapshot_uploads = "loopback"``, and then only through uploaders that reach a registry on
    this machine (``registry_access.connect`` refuses any other host)."""
    skipped = [Stage.PUBLISH]
    if snapshot_uploads(config) == "loopback":
        senders = [p.name for p in selected.get(Stage.UPLOAD, ()) if p.name not in LOOPBACK_UPLOADERS]
        if senders:
            raise ConfigError(
                config.display_file,
                "tool.gopipe.publish.snapshot_uploads",
                f"a loopback snapshot cannot confine {', '.join(senders)} to this machine",
                f"use only {', '.join(sorted(LOOPBACK_UPLOADERS))} in snapshots, "
                'or set snapshot_uploads = "none"',
            )
    else:
        skipped.append(Stage.UPLOAD)
    return {
        stage: StageResult(stage.value, "skipped", error=SNAPSHOT_SKIP, summary=SNAPSHOT_SKIP)
        for stage in skipped
        if stage in plan.stages
    }


def _report_only(name: str, git: GitInfo, error: str, exit_code: int) -> Report:
    """The report of a run that ended before any stage could be planned."""
    return Report(
        pipeline=name or "ci",
        status="failed",
        started_at=time.time(),
        duration_s=0.0,
        git=git,
        stages=[],
        artifacts=[],
        error=error,
        exit_code=exit_code,
    )


def run_pipeline(
    targets: Sequence[str],
    *,
    root: Path = Path("."),
    config_file: Path | None = None,
    args: RunArgs | None = None,
    plain: bool | None = None,
    notify: bool = True,
) -> int:
    """Run ``targets`` (pipelines or stages) in ``root``; return the process exit code."""
    session = RunSession(root, config_file=config_file, args=args, notify=notify, plain=plain)
    return session.run(targets).exit_code


@contextmanager
def _cancel_on_signals(run: RunContext) -> Iterator[None]:
    """Ctrl-C / SIGTERM: stop every process tree, finish the report as cancelled.

    Notify still runs after a cancel (with a short grace), so people hear that the run was
    cancelled. Every further signal is passed on to every tracker, the notifier's included:
    a second Ctrl-C ends a hanging notifier at once instead of waiting out its retries.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = 0

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal received
        received += 1
        name = signal.Signals(signum).name
        run.console.error(f"received {name}: " + ("cancelling" if received == 1 else "stopping now"))
        threading.Thread(target=run.tracker.cancel, daemon=True).start()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _read_git(root: Path, environ: Mapping[str, str]) -> GitInfo:
    """The checkout's git metadata; a checkout without a ``git`` binary is bad input."""
    if shutil.which("git", path=environ.get("PATH")) is None:
        if any((d / ".git").exists() for d in (root, *root.parents)):
            raise ConfigError(
                "environment",
                "PATH",
                f"git is not on PATH, but {root} is a git checkout",
                "install git (apt-get install git) or add it to PATH",
            )
        return UNKNOWN
    return read_git_info(root, dict(environ))


def _shown(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _git_or_unknown(root: Path) -> GitInfo:
    try:
        return read_git_info(root)
    except Exception:
        return UNKNOWN


def check_config(
    root: Path,
    config_file: Path | None = None,
    *,
    config: Config | None = None,
    explain: Callable[[ConfigError], ConfigError] | None = None,
) -> tuple[Config, list[str], list[str]]:
    """Every check ``gopipe run`` makes before a stage starts, for **every** stage at once
    (``gopipe check``): config shape, ``requires``, stage settings, every selected provider's
    options and preflight, secret references, ``gopipe_configure``. Returns the config, the
    errors and the warnings; an unreadable config raises :class:`ConfigError`."""
    config = config or load_config(root.resolve(), config_file)
    told = explain or (lambda error: error)  # a module's layered config names the layer's file
    redactor = new_redactor(os.environ)
    errors: list[str] = []
    try:
        check_requires(config)
    except ConfigError as exc:
        errors.append(str(told(exc)))
    pm = create_manager((*config.settings.disable_plugins, *disabled_from_env()))
    registry = ProviderRegistry.collect(pm)
    try:
        config = registry.validate(config, redactor)
    except ConfigError as exc:
        return config, [*errors, str(told(exc))], []
    for stage in Stage:
        try:
            registry.select(config, stage, redactor)
        except ConfigError as exc:
            errors.append(str(told(exc)))
    try:
        register_config_secrets(
            config.raw, redactor, config.root, file=config.display_file, kind=registry.secret_kind
        )
        load_cache_options(config)
        if not errors:
            pm.hook.gopipe_configure(config=config, args=RunArgs())  # no run: no --env to check
    except ConfigError as exc:
        errors.append(str(told(exc)))
    return config, [redactor(e) for e in errors], inert_tables(config)


def load_for_inspection(root: Path, config_file: Path | None = None) -> tuple[Config, ProviderRegistry]:
    """Config and providers without running anything (``gopipe plugins``, ``schema``)."""
    config = load_config(root.resolve(), config_file)
    pm = create_manager((*config.settings.disable_plugins, *disabled_from_env()))
    registry = ProviderRegistry.collect(pm)
    return registry.validate(config), registry


def where_to_look(out: Path) -> str:
    """The run's last line: where its report, logs and coverage page are, from here."""
    found = [("report", out / "report.json"), ("logs", out / "logs"), ("coverage", out / "coverage.html")]
    shown = []
    for label, path in found:
        if path.exists():
            try:
                text = os.path.relpath(path)
            except ValueError:  # another drive (Windows)
                text = str(path)
            shown.append(f"{label}: {text}{'/' if path.is_dir() else ''}")
    return "  ".join(shown)
