"""``gopipe run`` at the top of a repository with several Go modules: one run per module,
concurrently (at most one per core), folded into one report at the top.

Each module runs in a :class:`~gopipe.lifecycle.RunSession` of its own, in its directory,
with its layered config (:mod:`gopipe.config.layers`) and its own ``dist/gopipe``, exactly as
``gopipe run -C services/api`` would, but without notify. The top's session then folds the
modules' stages as ``gopipe merge`` folds jobs (the worst status wins, errors labelled by module
path), lists every module's artifacts with paths from the repository's top, keeps each
module's stages in the report's ``modules``, and runs notify once for the whole repository.
The exit code is the worst of the modules'.
"""

from __future__ import annotations

import io
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any, TextIO, cast

import pluggy

from gopipe.artifacts import Artifact
from gopipe.config import Config
from gopipe.config.layers import Layer, layered_config, module_layers, module_tables
from gopipe.config.loader import read_tool_table
from gopipe.console import Console
from gopipe.context import RunArgs, RunContext
from gopipe.errors import ConfigError
from gopipe.git import work_tree_root
from gopipe.lifecycle import Prepared, RunSession
from gopipe.merge import merge_stage
from gopipe.modules import TOP_MODULE_DIST, Module, Workspace, changed_files, discover, find_go_mods
from gopipe.plan import Plan, make_plan
from gopipe.report import Report, StageResult
from gopipe.stages import Stage


class ModuleError(ConfigError):
    """A module's bad input, already told as one line naming its file and key."""

    def __str__(self) -> str:
        return self.message


def wants_modules(root: Path, *, modules: Sequence[str] = (), changed_since: str | None = None) -> bool:
    """Whether ``gopipe run`` in ``root`` runs module by module.

    Only at the repository's top, and only when it holds a ``go.work``, or no top module but
    modules below it, or when modules are selected: a repository with one ``go.mod`` at its
    top runs as it always did, without even looking for other modules.
    """
    if modules or changed_since is not None:
        return True
    here = root.resolve()
    if (work_tree_root(here) or here) != here:
        return False
    if (here / "go.work").is_file():
        return True
    return not (here / "go.mod").is_file() and bool(find_go_mods(here))  # none: today's error


def selected_modules(
    workspace: Workspace,
    *,
    modules: Sequence[str] = (),
    changed_since: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Module, ...]:
    """``--module`` and ``--changed-since`` applied (both: the affected among those named)."""
    chosen = workspace.select(modules) if modules else workspace.modules
    if changed_since is not None:
        affected = {m.path for m in workspace.affected(changed_files(workspace.root, changed_since, environ))}
        chosen = tuple(m for m in chosen if m.path in affected)
    return chosen


@dataclass
class _Outcome:
    module: Module
    report: Report
    config: Config | None


@dataclass
class _Supervisor:
    """Cancels every module's processes on Ctrl-C / SIGTERM, and starts no more modules."""

    cancelled: threading.Event = field(default_factory=threading.Event)
    runs: list[RunContext] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def started(self, run: RunContext) -> None:
        with self.lock:
            self.runs.append(run)
        if self.cancelled.is_set():
            run.tracker.cancel()

    def cancel(self) -> None:
        self.cancelled.set()
        with self.lock:
            runs = list(self.runs)
        for run in runs:
            threading.Thread(target=run.tracker.cancel, daemon=True).start()


@contextmanager
def _signals(supervisor: _Supervisor, say: Callable[[str], None]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        say(f"received {signal.Signals(signum).name}: cancelling every module")
        supervisor.cancel()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class _Prefixed(io.TextIOBase):
    """A module's console lines, prefixed with its path, written whole to the shared stream."""

    def __init__(self, prefix: str, sink: TextIO, lock: threading.Lock) -> None:
        self.prefix, self.sink, self.lock, self.buffer_text = prefix, sink, lock, ""

    def write(self, text: str) -> int:
        self.buffer_text += text
        *lines, self.buffer_text = self.buffer_text.split("\n")
        if lines:
            with self.lock:
                self.sink.write("".join(self._shown(line) + "\n" for line in lines))
                self.sink.flush()
        return len(text)

    def _shown(self, line: str) -> str:
        # a workflow command (::group::, ::error file=…) must start its line to take effect
        return line if line.startswith("::") else f"[{self.prefix}] {line}"

    def flush(self) -> None:
        self.sink.flush()


def run_modules(
    targets: Sequence[str],
    *,
    root: Path = Path("."),
    config_file: Path | None = None,
    args: RunArgs | None = None,
    plain: bool | None = None,
    notify: bool = True,
    modules: Sequence[str] = (),
    changed_since: str | None = None,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> Report:
    """Run ``targets`` in every selected module of the repository at ``root``; one report."""
    session = RunSession(
        root, config_file=config_file, args=args, notify=notify, plain=plain, stream=stream, environ=environ
    )
    name = "+".join(targets) or "ci"

    def prepare(config: Config, pm: pluggy.PluginManager) -> Prepared:
        top = (work_tree_root(config.root) or config.root).resolve()
        if top != config.root:
            raise ConfigError(
                "command line",
                "--module" if modules else "--changed-since",
                f"{config.root} is not the repository's top ({top})",
                f"run from the top: gopipe run -C {top}",
            )
        plan = make_plan(targets, notify=notify)  # an unknown stage: one error, before any module
        workspace = discover(config.root, session.environ)
        chosen = selected_modules(
            workspace, modules=modules, changed_since=changed_since, environ=session.environ
        )
        module_tables(config.raw, config.file, [m.path for m in workspace.modules])
        outcomes = _run_each(chosen, config, session, targets)
        return _fold(outcomes, plan, name, notify, workspace)

    return session.run(targets, prepare=prepare)


def _run_each(
    chosen: Sequence[Module], root_config: Config, session: RunSession, targets: Sequence[str]
) -> list[_Outcome]:
    supervisor = _Supervisor()
    lock = threading.Lock()
    sink = session.console.stream
    environ = {k: v for k, v in session.environ.items() if k != "GITHUB_STEP_SUMMARY"}  # the top writes it
    github = environ.get("GITHUB_ACTIONS") == "true"
    root_raw, _ = read_tool_table(root_config.file)

    def one(module: Module) -> _Outcome:
        out = cast(TextIO, _Prefixed(module.path, sink, lock))
        try:
            layers = module_layers(root_config.file, root_raw, module.path, module.dir)
            if module.path == ".":  # the top's dist/gopipe holds the whole run's report
                top_dist = f"{root_config.settings.dist}/{TOP_MODULE_DIST}"
                layers.append(Layer(root_config.file, "tool.gopipe", {"dist": top_dist}))
            config, explain = layered_config(
                module.dir, layers, present=root_config.present or len(layers) > 1
            )
        except ConfigError as exc:
            return _Outcome(
                module,
                RunSession(module.dir, stream=out, environ=environ)._unreadable_config(
                    exc, "+".join(targets)
                ),
                None,
            )
        sub = RunSession(
            module.dir,
            args=session.args,
            notify=False,
            stream=out,
            environ=environ,
            config=config,
            explain=explain,
            on_context=supervisor.started,
        )
        # in GitHub Actions a module's findings are annotations and its logs groups, as in a
        # single-module run; only the step summary is the top's alone
        sub.console = Console(sub.redactor, stream=out, github=github, environ=environ)
        if supervisor.cancelled.is_set():
            report = sub._unreadable_config(
                ConfigError("command line", "", "cancelled before it started"), "+".join(targets)
            )
            report.status, report.exit_code = "cancelled", 130
            return _Outcome(module, report, config)
        return _Outcome(module, sub.run(targets), config)

    workers = max(1, min(len(chosen), os.cpu_count() or 1))
    with _signals(supervisor, session.console.error), ThreadPoolExecutor(workers, "module") as pool:
        return list(pool.map(one, chosen))


def _fold(outcomes: list[_Outcome], plan: Plan, name: str, notify: bool, workspace: Workspace) -> Prepared:
    entries: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    sections: list[dict[str, Any]] = []
    artifacts: list[Artifact] = []
    errors: list[ConfigError] = []
    for outcome in outcomes:
        data = outcome.report.to_json()
        path = outcome.module.path
        for stage in data["stages"]:
            if stage["name"] != Stage.NOTIFY.value:
                entries.setdefault(stage["name"], []).append((path, stage))
        moved = [_from_top(a, outcome) for a in outcome.report.artifacts]
        artifacts += moved
        if outcome.report.exit_code == 2 and outcome.report.error:
            errors.append(ModuleError("", "", outcome.report.error))
        out = outcome.config.out if outcome.config else outcome.module.dir / "dist" / "gopipe"
        sections.append(
            {
                "path": path,
                "module": outcome.module.module_path,
                "status": data["status"],
                "exit_code": data["exit_code"],
                "error": data["error"],
                "version": data["git"]["version"],
                "tag": data["git"]["tag"],
                "report": _rel(out / "report.json", workspace.root),
                "stages": data["stages"],
                "artifacts": [a.to_json() for a in moved],
            }
        )
    folded = {Stage(n): _labelled(merge_stage(n, e), e) for n, e in entries.items()}
    stages = tuple(s for s in plan.stages if s in folded)
    return Prepared(
        plan=Plan(name, stages, {s: () for s in stages}, notify=notify),
        finished={s: folded[s] for s in stages},
        artifacts=artifacts,
        title=f"{name} ({len(outcomes)} modules: {', '.join(o.module.path for o in outcomes) or 'none'})",
        modules=sections,
        errors=errors,
    )


def _labelled(result: StageResult, entries: list[tuple[str, dict[str, Any]]]) -> StageResult:
    """The folded stage with a summary that names each module (``services/api: 87.5%``)."""
    parts = [f"{label}: {s['summary']}" for label, s in entries if s.get("summary")]
    return replace(result, summary="; ".join(parts) if len(entries) > 1 else result.summary)


def _from_top(artifact: Artifact, outcome: _Outcome) -> Artifact:
    """The module's artifact with its path from the repository's top and its module named."""
    prefix = outcome.module.path
    path = artifact.path
    if path is not None and prefix != "." and not Path(path).is_absolute():
        path = f"{prefix}/{path}"
    return replace(artifact, path=path, extra={**artifact.extra, "module": prefix})


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def module_session(
    root: Path, *, args: RunArgs | None = None, plain: bool | None = None, notify: bool = True
) -> RunSession | None:
    """``gopipe run -C services/api``: a session with the module's layered config, inheriting
    the repository top's ``[tool.gopipe]`` as a run from the top would; None when ``root`` is
    the top, not a module, or the top has no ``[tool.gopipe]`` (then it runs as it always did)."""
    here = root.resolve()
    top = work_tree_root(here)
    if top is None or top == here or not (here / "go.mod").is_file():
        return None
    top_file = top / "pyproject.toml"
    try:
        raw, present = read_tool_table(top_file)
        if not present:
            return None
        layers = module_layers(top_file, raw, here.relative_to(top).as_posix(), here)
        config, explain = layered_config(here, layers, present=True)
    except ConfigError as exc:
        session = RunSession(here, args=args, notify=notify, plain=plain)
        session.config_error = exc
        return session
    return RunSession(here, args=args, notify=notify, plain=plain, config=config, explain=explain)


def check_modules(root: Path) -> tuple[list[str], list[str], int]:
    """``gopipe check`` at the top of a monorepo: every module's layered config, checked as a
    run would check it. Returns the errors, the warnings and how many modules were checked."""
    from gopipe.lifecycle import check_config

    top = root.resolve()
    workspace = discover(top)
    top_file = top / "pyproject.toml"
    raw, present = read_tool_table(top_file)
    module_tables(raw, top_file, [m.path for m in workspace.modules])
    errors: list[str] = []
    warnings: list[str] = []
    for module in workspace.modules:
        try:
            layers = module_layers(top_file, raw, module.path, module.dir)
            config, explain = layered_config(module.dir, layers, present=present or len(layers) > 1)
        except ConfigError as exc:
            errors.append(str(exc))
            continue
        _, found, warned = check_config(module.dir, config=config, explain=explain)
        errors += [e for e in found if e not in errors]
        warnings += [w for w in warned if w not in warnings]
    return errors, warnings, len(workspace.modules)


def module_listing(
    root: Path,
    *,
    modules: Sequence[str] = (),
    changed_since: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Workspace, tuple[Module, ...]]:
    """``gopipe modules``: the repository's modules, narrowed as a run would narrow them."""
    workspace = discover(root.resolve(), environ)
    return workspace, selected_modules(
        workspace, modules=modules, changed_since=changed_since, environ=environ
    )
