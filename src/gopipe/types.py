"""Typed, named registration objects that plugins return from the registration hooks.

Modelled on conda's plugin types: a plugin returns e.g. ``Linter(name="staticcheck",
run=..., options=StaticcheckOptions)`` and a stage picks providers *by name* from config,
never by registration order. ``options`` is a dataclass; the provider's config table
(``[tool.gopipe.<stage>.<name>]``) is validated into it before the run starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from gopipe.stages import Stage

if TYPE_CHECKING:
    from gopipe.artifacts import Artifact
    from gopipe.config import Config
    from gopipe.context import ProviderContext


@dataclass(frozen=True)
class NoOptions:
    """Options for a provider that takes none."""


O = TypeVar("O")  # noqa: E741 - the options type, as in ProviderContext[O]


@dataclass(frozen=True)
class Provider(Generic[O]):
    """A named implementation of one stage, generic over its options type.

    ``Notifier(name="slack", run=run_slack, options=SlackOptions)`` type-checks that
    ``run_slack`` takes a ``ProviderContext[SlackOptions]`` and that ``check`` takes
    ``SlackOptions``, so ``ctx.options`` is typed inside the provider.

    :param name: what users write in ``providers = [...]``; unique per stage.
    :param run: called with a :class:`~gopipe.context.ProviderContext`; raises
        :class:`~gopipe.errors.StageFailed` when the checked work is wrong.
    :param options: dataclass that the provider's config table is validated into;
        available to ``run`` as ``ctx.options``.
    :param description: one line for ``gopipe plugins``.
    :param check: optional preflight, called with the config and the validated options
        when the provider is selected, before any stage runs; raises
        :class:`~gopipe.errors.ConfigError` for bad input (e.g. a missing Dockerfile),
        so the run stops with exit code 2 before doing any work.
    :param after: names of providers of the same stage that must have finished before this
        one starts, when they are selected too (names not selected are ignored). The
        providers of a stage otherwise run concurrently; this is for one that uses what the
        others made in the same stage (``sign`` signs what ``registry`` pushed). If one of
        them fails, this one is skipped. A cycle is a config error naming the providers.
    """

    name: str
    run: Callable[[ProviderContext[O]], None]
    # A provider without options takes ProviderContext[NoOptions]; O is then NoOptions.
    options: type[O] = NoOptions  # type: ignore[assignment]
    description: str = ""
    check: Callable[[Config, O], None] | None = None
    after: tuple[str, ...] = ()

    stage: ClassVar[Stage]


@dataclass(frozen=True)
class Linter(Provider[O]):
    stage: ClassVar[Stage] = Stage.LINT


@dataclass(frozen=True)
class Tester(Provider[O]):
    stage: ClassVar[Stage] = Stage.TEST


@dataclass(frozen=True)
class CoverageReporter(Provider[O]):
    stage: ClassVar[Stage] = Stage.COVERAGE


@dataclass(frozen=True)
class Builder(Provider[O]):
    stage: ClassVar[Stage] = Stage.BUILD


@dataclass(frozen=True)
class Packager(Provider[O]):
    stage: ClassVar[Stage] = Stage.PACKAGE


@dataclass(frozen=True)
class Uploader(Provider[O]):
    stage: ClassVar[Stage] = Stage.UPLOAD


@dataclass(frozen=True)
class Publisher(Provider[O]):
    """Publishes a release (GitHub Releases, GitLab …) from what package and upload made."""

    stage: ClassVar[Stage] = Stage.PUBLISH


@dataclass(frozen=True)
class Deployer(Provider[O]):
    stage: ClassVar[Stage] = Stage.DEPLOY


@dataclass(frozen=True)
class Notifier(Provider[O]):
    stage: ClassVar[Stage] = Stage.NOTIFY


@dataclass(frozen=True)
class StageSettings:
    """Typed stage-level keys of ``[tool.gopipe.<stage>]``, beside ``providers``, ``timeout``
    and the provider tables (e.g. deploy's ``environments``).

    The core validates them once per run, like provider options, before any stage runs;
    stages and providers read the result as ``config.stage(stage).settings``, an instance
    of ``options``. ``gopipe schema`` describes them. One declaration per stage.

    :param stage: the stage whose table holds the keys.
    :param options: dataclass the keys are validated into.
    :param check: optional preflight, called with the config and the validated settings;
        raises :class:`~gopipe.errors.ConfigError` for what types cannot express (e.g. an
        environment naming a provider that is not selected).
    """

    stage: Stage
    options: type[Any]
    check: Callable[[Config, Any], None] | None = None


@dataclass(frozen=True)
class PartFile:
    """One artifact that one fanned-out job recorded, as ``gopipe merge`` found it.

    :param part: the job's label (its directory name).
    :param artifact: the artifact's entry in that job's ``report.json``.
    :param path: where its file lies inside the job's output; ``None`` when it has no file
        or the job did not upload it.
    """

    part: str
    artifact: Mapping[str, Any]
    path: Path | None


@dataclass(frozen=True)
class MergeInput:
    """What a :class:`Merger` gets: every part's artifacts of its kind, and where to write.

    :param files: the parts' artifacts of the merger's kind, in part order.
    :param parts: each part's label and its ``dist/gopipe`` directory (for side files such as
        recorded timings that are not artifacts).
    :param out: the merged ``dist/gopipe``; the merger writes its merged file here.
    :param copy: copies one part's file back to its place in the repository, after checking
        its sha256 and that the place is inside ``dist/``; returns the artifact, or the
        problem as text.
    :param root: the repository.
    :param stage: the merger's stage.
    """

    files: Sequence[PartFile]
    parts: Mapping[str, Path]
    out: Path
    copy: Callable[[PartFile], Artifact | str]
    root: Path
    stage: Stage

    def paths(self) -> list[Path]:
        """The files that were found, in part order."""
        return [f.path for f in self.files if f.path is not None]

    def record(self, kind: str, path: Path, **extra: Any) -> Artifact:
        """An artifact for a file the merger wrote under :attr:`out`."""
        from gopipe.artifacts import Artifact, sha256_file

        return Artifact(
            kind=kind,
            name=path.name,
            path=str(path.relative_to(self.root)),
            sha256=sha256_file(path),
            stage=self.stage.value,
            provider="merge",
            extra=extra,
        )


@dataclass
class MergeOutput:
    """What a :class:`Merger` made: artifacts of the merged run, problems, a new summary.

    :param artifacts: recorded in the merged report.
    :param problems: each fails the merger's stage with this text (a missing shard ...).
    :param summary: replaces the merged stage's one-line summary when given.
    """

    artifacts: list[Artifact] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    summary: str | None = None


@dataclass(frozen=True)
class Merger:
    """How ``gopipe merge`` folds one artifact kind from fanned-out jobs into one.

    Registered by the plugin that produces the kind (``gopipe_mergers``), so the merge
    command knows nothing about JUnit, cover profiles or SARIF. Kinds without a merger are
    copied back as they are.

    :param kind: the artifact kind, e.g. ``"junit"``.
    :param stage: the stage the kind belongs to; problems fail that stage.
    :param merge: folds the parts' files into the merged output.
    """

    kind: str
    stage: Stage
    merge: Callable[[MergeInput], MergeOutput]


PROVIDER_TYPES: dict[Stage, type[Provider[Any]]] = {
    cls.stage: cls
    for cls in (
        Linter,
        Tester,
        CoverageReporter,
        Builder,
        Packager,
        Uploader,
        Publisher,
        Deployer,
        Notifier,
    )
}
