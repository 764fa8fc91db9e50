"""What a provider sees: the run (shared) and its own slice (stage, options, processes)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

from gopipe.artifacts import Artifact, ArtifactStore, Finding, sha256_file
from gopipe.config import Config
from gopipe.errors import StageFailed
from gopipe.events import EventLog
from gopipe.git import GitInfo
from gopipe.gotools import TOOLS, GoTool, GoToolchain
from gopipe.proc import Completed, ProcessTracker
from gopipe.secrets import Redactor

if TYPE_CHECKING:
    import pluggy

    from gopipe.console import Console
    from gopipe.report import Report

O_co = TypeVar("O_co", covariant=True)


@dataclass(frozen=True)
class RunArgs:
    """Command-line choices that narrow a run (shards, single targets, environments)."""

    pipeline: str = "ci"
    targets: tuple[str, ...] = ()
    shard: tuple[int, int] | None = None
    environment: str | None = None
    dry_run: bool = False
    use_cache: bool = True


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
            "project": self.root.name,
        }

    def render(self, template: str, **extra: str) -> str:
        """Fill ``{version}``, ``{commit}``, ``{short_commit}``, ``{date}`` … in a template."""
        return template.format_map(_Strict({**self.template_vars(), **extra}))


class _Strict(dict[str, str]):
    def __missing__(self, key: str) -> str:
        raise KeyError(f"unknown template variable {{{key}}}; known: {', '.join(sorted(self))}")


class ProviderContext(Generic[O_co]):
    """Passed to ``Provider.run``: options, processes, artifacts, findings and logging."""

    def __init__(
        self,
        run: RunContext,
        stage: str,
        provider: str,
        options: O_co,
        tracker: ProcessTracker,
        log: Callable[[str], None],
    ) -> None:
        self.run = run
        self.stage = stage
        self.provider = provider
        self._options = options
        self.tracker = tracker
        self._log = log
        self.summary = ""  # one line shown in the stage table and notifications

    @property
    def options(self) -> O_co:
        """The provider's validated options dataclass."""
        return self._options

    @property
    def root(self) -> Path:
        return self.run.root

    @property
    def out(self) -> Path:
        """``dist/gopipe``: where reports and logs go."""
        self.run.out.mkdir(parents=True, exist_ok=True)
        return self.run.out

    @property
    def dist(self) -> Path:
        return self.run.config.dist

    @property
    def git(self) -> GitInfo:
        return self.run.git

    @property
    def go(self) -> GoToolchain:
        return self.run.go

    def log(self, line: str) -> None:
        self._log(line.rstrip("\n"))

    def progress(self, text: str) -> None:
        self.run.console.progress(self.stage, text)

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
        full_env = {**self.run.env, **(env or {})}
        self.log("$ " + " ".join(str(a) for a in args))
        return self.tracker.run(
            args,
            cwd=cwd or self.root,
            env=full_env,
            on_stdout=on_stdout,
            on_stderr=self.log if echo else None,
            timeout=timeout,
        )

    def tool(self, name: str, version: str | None = None) -> Path:
        """A pinned Go tool, installed into gopipe's cache on first use."""
        base = TOOLS[name]
        tool = GoTool(base.name, base.package, version or base.version)
        self.log(f"using {tool.name} {tool.version}")
        return self.go.tool(tool)

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
        self.run.artifacts.add(artifact)
        self.run.events.emit("artifact", **artifact.to_json())
        return artifact

    def add_finding(self, finding: Finding) -> None:
        self.run.artifacts.add_finding(self.stage, finding)
        self.run.console.annotate(finding)

    def fail(
        self, message: str, *, file: str | None = None, line: int | None = None, details: str = ""
    ) -> NoReturn:
        raise StageFailed(message, file=file, line=line, details=details)


def os_relpath(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)
