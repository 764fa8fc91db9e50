"""What a provider sees: curated, read-only views of the run plus its own slice (options, processes).

:class:`RunContext` is the runner's record of one run; observer hooks receive it. Providers get a
:class:`ProviderContext`, which keeps the RunContext private (``ctx._run``) and exposes only what a
provider needs, so the runner's internals can change without breaking plugins.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

from gopipe.artifacts import Artifact, ArtifactStore, Finding, sha256_file
from gopipe.config import Config
from gopipe.errors import StageFailed
from gopipe.events import EventLog
from gopipe.git import GitInfo
from gopipe.gotools import TOOLS, GoTool, GoToolchain
from gopipe.paths import inside, output_path
from gopipe.proc import Completed, ProcessTracker
from gopipe.project import project_name
from gopipe.secrets import Redactor
from gopipe.templates import render_template

if TYPE_CHECKING:
    import pluggy

    from gopipe.console import Console
    from gopipe.report import Report

O_co = TypeVar("O_co", covariant=True)
T = TypeVar("T")


@dataclass(frozen=True)
class RunArgs:
    """Command-line choices that narrow a run (shards, single targets, environments)."""

    pipeline: str = "ci"
    targets: tuple[str, ...] = ()
    shard: tuple[int, int] | None = None
    environment: str | None = None
    dry_run: bool = False
    use_cache: bool = True
    go_args: tuple[str, ...] = ()  # after ``--``: flags and packages for ``go test``
    snapshot: bool = False  # ``--snapshot``: version {next_patch}-SNAPSHOT-{short_commit}, nothing published


@dataclass
class RunContext:
    """Everything shared by the stages of one run."""

    config: Config
    git: GitInfo
    redactor: Redactor
    console: Console
    events: EventLog
    go: GoToolchain
    pm: pluggy.PluginManager
    args: RunArgs = field(default_factory=RunArgs)
    artifacts: ArtifactStore = field(default_factory=ArtifactStore)
    tracker: ProcessTracker = field(default_factory=ProcessTracker)
    report: Report | None = None  # the report so far; set before notify runs
    env: dict[str, str] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)  # Unix seconds; provenance's startedOn

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def out(self) -> Path:
        return self.config.out

    def template_vars(self) -> dict[str, str]:
        g = self.git
        return {
            "version": g.version,
            "commit": g.sha,
            "short_commit": g.short_sha,
            "date": g.date,
            "timestamp": str(g.commit_time),
            "branch": g.branch or "",
            "tag": g.tag or "",
            "project": self.project,
        }

    @property
    def project(self) -> str:
        """The project's name, independent of the checkout directory (:mod:`gopipe.project`)."""
        return project_name(self.root, self.git.remote_url)

    def render(self, template: str, *, key: str = "tool.gopipe", **extra: str) -> str:
        """Fill ``{version}``, ``{commit}``, ``{short_commit}``, ``{date}`` … in a template; a typo
        (unknown variable, stray brace, ``{0}``) is a :class:`ConfigError` naming ``key``."""
        return render_template(
            template, {**self.template_vars(), **extra}, file=self.config.display_file, key=key
        )


class Artifacts:
    """A read-only view of the run's artifacts and findings; providers add through the context."""

    def __init__(self, store: ArtifactStore) -> None:
        self._store = store

    def of_kind(self, kind: str) -> list[Artifact]:
        """Artifacts of one kind (``binary``, ``image``, ``coverage-profile`` …), oldest first."""
        return self._store.of_kind(kind)

    def findings(self, stage: str | None = None) -> list[Finding]:
        """Findings of one stage (``"lint"``), or of every stage."""
        return self._store.findings(stage)

    def __iter__(self) -> Iterator[Artifact]:
        return iter(self._store)

    def __len__(self) -> int:
        return len(list(self._store))


class ProviderContext(Generic[O_co]):
    """What a provider's ``run`` sees: its options, curated read-only views of the run, and
    the few ways to act on it (processes, tools, artifacts, findings, logs, failure).

    The run's internals (plugin manager, console, event log, the writable artifact store)
    stay private, so the runner can change without breaking plugins.
    """

    def __init__(
        self,
        run: RunContext,
        stage: str,
        provider: str,
        options: O_co,
        tracker: ProcessTracker,
        log: Callable[[str], None],
        block: Callable[[str, list[str]], None] | None = None,
    ) -> None:
        self._run = run
        self.stage = stage
        self.provider = provider
        self._options = options
        self.tracker = tracker
        self._log = log
        self._block = block
        self._artifacts = Artifacts(run.artifacts)
        self._env: Mapping[str, str] = MappingProxyType(run.env)
        self.summary = ""  # one line shown in the stage table and notifications

    # -- what the provider reads -------------------------------------------------------
    @property
    def options(self) -> O_co:
        """The provider's validated options dataclass."""
        return self._options

    @property
    def config(self) -> Config:
        """The run's validated configuration (read-only)."""
        return self._run.config

    @property
    def git(self) -> GitInfo:
        return self._run.git

    @property
    def args(self) -> RunArgs:
        """Command-line choices: pipeline, targets, shard, environment, dry_run (frozen)."""
        return self._run.args

    @property
    def env(self) -> Mapping[str, str]:
        """The environment commands run with (read-only; pass ``env=`` to :meth:`sh` to add)."""
        return self._env

    @property
    def artifacts(self) -> Artifacts:
        """What earlier stages (and other providers) produced: ``of_kind``, ``findings``, iteration."""
        return self._artifacts

    @property
    def report(self) -> Report | None:
        """The report so far; set before notify runs (None in the other stages)."""
        return self._run.report

    @property
    def root(self) -> Path:
        return self._run.root

    @property
    def out(self) -> Path:
        """``dist/gopipe``: where reports and logs go."""
        self._run.out.mkdir(parents=True, exist_ok=True)
        return self._run.out

    @property
    def dist(self) -> Path:
        return self._run.config.dist

    @property
    def go(self) -> GoToolchain:
        return self._run.go

    @property
    def run_started_at(self) -> float:
        """When the run began (Unix seconds), e.g. for a provenance record's ``startedOn``."""
        return self._run.started_at

    def render(self, template: str, *, key: str = "", **extra: str) -> str:
        """Fill ``{version}``, ``{commit}``, ``{short_commit}``, ``{date}``, ``{branch}``, ``{tag}``,
        ``{project}`` and ``extra`` in a template. ``key`` is the option that holds it (``"output"``
        for ``tool.gopipe.<stage>.<provider>.output``, or a full ``tool.gopipe…`` key): a typo is a
        :class:`~gopipe.errors.ConfigError` naming it and listing the known variables."""
        return self._run.render(template, key=self._key(key), **extra)

    def repo_path(self, rel: str | os.PathLike[str], key: str) -> Path:
        """A path from config, a template or an artifact, resolved (symlinks too) and checked to
        stay inside the repository: read only what this returns. ``key`` names the option as for
        :meth:`render`; a path that leaves the repository is a ConfigError naming it."""
        config = self._run.config
        return inside(config.root, rel, file=config.display_file, key=self._key(key))

    def dist_path(self, rel: str | os.PathLike[str], key: str, *, under: str = "") -> Path:
        """Where an output named by config or a template goes: ``dist/[under/]rel`` resolved and
        checked to stay strictly below ``dist/under``; write (or replace) only what this returns.
        A path that leaves it is a ConfigError naming ``key`` (as for :meth:`render`)."""
        config = self._run.config
        return output_path(
            config.root, config.dist, rel, file=config.display_file, key=self._key(key), under=under
        )

    def _key(self, key: str) -> str:
        if key == "tool.gopipe" or key.startswith("tool.gopipe."):
            return key
        table = f"tool.gopipe.{self.stage}.{self.provider}"
        return f"{table}.{key}" if key else table

    def stage_settings(self, options: type[T]) -> T:
        """This stage's own keys of ``[tool.gopipe.<stage>]`` (declared with ``StageSettings``),
        as the core validated them before the run started, typed as ``options``."""
        settings = self._run.config.stage(self.stage).settings
        if not isinstance(settings, options):
            raise TypeError(
                f"[tool.gopipe.{self.stage}] settings are {type(settings).__name__}, not "
                f"{options.__name__}: is the plugin that declares them installed and not blocked?"
            )
        return settings

    # -- secrets -----------------------------------------------------------------------
    def redact(self, text: str) -> str:
        """``text`` with every known secret masked."""
        return self._run.redactor(text)

    def clip(self, text: str, limit: int, *, tail: bool = False) -> str:
        """Mask ``text``, then cut it to ``limit`` characters (the end with ``tail``): a cut
        before masking could leave a prefix of a secret that no longer matches it."""
        return self._run.redactor.clip(text, limit, tail=tail)

    def redact_obj(self, obj: T) -> T:
        """JSON-like data (dicts, lists, tuples, strings) with every known secret masked; a copy."""
        masked: Any = self._run.redactor.redact_obj(obj)
        return masked  # type: ignore[no-any-return]

    def add_secret(self, value: str) -> None:
        """Mask ``value`` everywhere from now on (a token derived at run time)."""
        self._run.redactor.add(value)

    # -- output --------------------------------------------------------------------------
    def log(self, line: str) -> None:
        """A line in this stage's log (masked; shown when the stage fails)."""
        self._log(line.rstrip("\n"))

    def log_block(self, title: str, lines: Sequence[str]) -> None:
        """A titled piece of output worth reading on its own: a failing test's output, a
        compiler error, a diff. The stage log gets all of it (masked); in CI the console
        shows each block in a group of its own, cut to its last lines."""
        body = [line.rstrip("\n") for line in lines]
        if self._block is not None:
            self._block(title, body)
            return
        for line in (title, *body):
            self._log(line)

    def progress(self, text: str) -> None:
        """Replace the stage's one-line status on the live console."""
        self._run.console.progress(self.stage, text)

    def echo(self, line: str) -> None:
        """Print a line on the console now (masked): output the user asked to see, such as a
        dry run's rendered objects. Everything else belongs in :meth:`log`."""
        self._run.console.line(line)

    # -- acting ----------------------------------------------------------------------------
    def sh(
        self,
        args: Sequence[str | os.PathLike[str]],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        on_stdout: Callable[[str], None] | None = None,
        echo: bool = True,
        timeout: float | None = None,
    ) -> Completed:
        """Run a command in its own process group; stderr is logged as it arrives."""
        # GOPIPE_STAGE: the remote Go cache keeps one index per stage (remote_cache/go_index.py)
        full_env = {**self._run.env, "GOPIPE_STAGE": str(self.stage), **(env or {})}
        self.log("$ " + " ".join(str(a) for a in args))
        return self.tracker.run(
            args,
            cwd=cwd or self.root,
            env=full_env,
            on_stdout=on_stdout,
            on_stderr=self.log if echo else None,
            timeout=timeout,
        )

    def tool(self, tool: str | GoTool, version: str | None = None) -> Path:
        """A pinned Go tool, installed into gopipe's cache on first use.

        ``tool`` is a name from gopipe's list (:data:`gopipe.gotools.TOOLS`, e.g.
        ``"staticcheck"``) or the plugin's own ``GoTool(name, package, version)``;
        ``version`` overrides the pinned version of either.
        """
        if isinstance(tool, str):
            if tool not in TOOLS:
                raise KeyError(
                    f"no Go tool {tool!r} in gopipe's list ({', '.join(sorted(TOOLS))}); "
                    "pass GoTool(name, package, version) for a tool of your own"
                )
            tool = TOOLS[tool]
        pinned = GoTool(tool.name, tool.package, version or tool.version)
        self.log(f"using {pinned.name} {pinned.version}")
        return self.go.tool(pinned)

    def add_artifact(
        self,
        kind: str,
        name: str,
        path: Path | None = None,
        *,
        os: str | None = None,
        arch: str | None = None,
        sha256: str | None = None,
        **extra: Any,
    ) -> Artifact:
        """Record something this provider produced; later stages find it in :attr:`artifacts`."""
        rel = None
        if path is not None:
            if sha256 is None and path.is_file():
                sha256 = sha256_file(path)
            rel = os_relpath(path, self.root)
        artifact = Artifact(
            kind=kind,
            name=name,
            path=rel,
            os=os,
            arch=arch,
            sha256=sha256,
            stage=self.stage,
            provider=self.provider,
            extra=extra,
        )
        self._run.artifacts.add(artifact)
        self._run.events.emit("artifact", **artifact.to_json())
        return artifact

    def add_finding(self, finding: Finding) -> None:
        """Record a file:line problem (annotated on GitHub, written to SARIF for lint)."""
        self._run.artifacts.add_finding(self.stage, finding)
        self._run.console.annotate(finding, self.stage)

    def fail(
        self, message: str, *, file: str | None = None, line: int | None = None, details: str = ""
    ) -> NoReturn:
        """Fail the provider with a one-line message (``details`` go to panels and notifications)."""
        raise StageFailed(message, file=file, line=line, details=details)


def os_relpath(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)
