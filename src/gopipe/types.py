"""Typed, named registration objects that plugins return from the registration hooks.

Modelled on conda's plugin types: a plugin returns e.g. ``Linter(name="staticcheck",
run=..., options=StaticcheckOptions)`` and a stage picks providers *by name* from config,
never by registration order. ``options`` is a dataclass; the provider's config table
(``[tool.gopipe.<stage>.<name>]``) is validated into it before the run starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from gopipe.stages import Stage

if TYPE_CHECKING:
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
    """

    name: str
    run: Callable[[ProviderContext[O]], None]
    # A provider without options takes ProviderContext[NoOptions]; O is then NoOptions.
    options: type[O] = NoOptions  # type: ignore[assignment]
    description: str = ""
    check: Callable[[Config, O], None] | None = None

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
class Deployer(Provider[O]):
    stage: ClassVar[Stage] = Stage.DEPLOY


@dataclass(frozen=True)
class Notifier(Provider[O]):
    stage: ClassVar[Stage] = Stage.NOTIFY


@dataclass(frozen=True)
class StageSettings:
    """Typed stage-level keys of ``[tool.gopipe.<stage>]``, beside ``providers`` and ``timeout``
    (e.g. deploy's ``environments``), so ``gopipe schema`` can describe them.

    :param stage: the stage whose table holds the keys.
    :param options: dataclass describing the keys; the plugin validates them (``parse_options``).
    """

    stage: Stage
    options: type[Any]


PROVIDER_TYPES: dict[Stage, type[Provider[Any]]] = {
    cls.stage: cls
    for cls in (Linter, Tester, CoverageReporter, Builder, Packager, Uploader, Deployer, Notifier)
}
