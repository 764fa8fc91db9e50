# mypy: disable-error-code="empty-body"
"""The hook points plugins implement.

Registration hooks (one per stage) return typed, named providers; a stage selects among
them by name from config. Observer hooks see the run as it happens. Every hook is called
on a plugin manager created for one run (see :mod:`gopipe.manager`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from gopipe.config import Config
    from gopipe.context import RunContext
    from gopipe.report import Report, StageResult
    from gopipe.types import (
        Builder,
        CoverageReporter,
        Deployer,
        Linter,
        Merger,
        Notifier,
        Packager,
        StageSettings,
        Tester,
        Uploader,
    )

PROJECT = "gopipe"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def gopipe_linters() -> Iterable[Linter]:
    """Register lint providers.

    :return: an iterable of :class:`~gopipe.types.Linter`.

    Example::

        @hookimpl
        def gopipe_linters():
            yield Linter(name="revive", run=run_revive, options=ReviveOptions)
    """


@hookspec
def gopipe_testers() -> Iterable[Tester]:
    """Register test providers (the default, ``go``, runs ``go test -json -race``).

    :return: an iterable of :class:`~gopipe.types.Tester`.

    Example::

        @hookimpl
        def gopipe_testers():
            yield Tester(name="gotestsum", run=run_gotestsum)
    """


@hookspec
def gopipe_coverage_reporters() -> Iterable[CoverageReporter]:
    """Register coverage providers; they read the profile the test stage recorded.

    :return: an iterable of :class:`~gopipe.types.CoverageReporter`.

    Example::

        @hookimpl
        def gopipe_coverage_reporters():
            yield CoverageReporter(name="codecov", run=upload_to_codecov, options=CodecovOptions)
    """


@hookspec
def gopipe_builders() -> Iterable[Builder]:
    """Register build providers; they record ``binary`` artifacts.

    :return: an iterable of :class:`~gopipe.types.Builder`.

    Example::

        @hookimpl
        def gopipe_builders():
            yield Builder(name="tinygo", run=build_with_tinygo, options=TinyGoOptions)
    """


@hookspec
def gopipe_packagers() -> Iterable[Packager]:
    """Register package providers (images, archives) built from the build stage's binaries.

    :return: an iterable of :class:`~gopipe.types.Packager`.

    Example::

        @hookimpl
        def gopipe_packagers():
            yield Packager(name="deb", run=make_deb, options=DebOptions)
    """


@hookspec
def gopipe_uploaders() -> Iterable[Uploader]:
    """Register upload providers (registries, object stores).

    :return: an iterable of :class:`~gopipe.types.Uploader`.

    Example::

        @hookimpl
        def gopipe_uploaders():
            yield Uploader(name="gcr", run=push_to_gcr, options=GcrOptions)
    """


@hookspec
def gopipe_deployers() -> Iterable[Deployer]:
    """Register deploy providers.

    :return: an iterable of :class:`~gopipe.types.Deployer`.

    Example::

        @hookimpl
        def gopipe_deployers():
            yield Deployer(name="nomad", run=deploy_to_nomad, options=NomadOptions)
    """


@hookspec
def gopipe_notifiers() -> Iterable[Notifier]:
    """Register notify providers; they run after every pipeline, passed or failed.

    :return: an iterable of :class:`~gopipe.types.Notifier`.

    Example::

        @hookimpl
        def gopipe_notifiers():
            yield Notifier(name="mattermost", run=post_to_mattermost, options=MattermostOptions)
    """


@hookspec
def gopipe_stage_settings() -> Iterable[StageSettings]:
    """Declare stage-level keys a plugin reads (beside ``providers``, ``timeout`` and provider tables).

    The core validates them into the declared dataclass before any stage runs; stages read
    the result as ``config.stage(stage).settings``. ``gopipe schema`` shows them.

    :return: an iterable of :class:`~gopipe.types.StageSettings`, at most one per stage.

    Example::

        @hookimpl
        def gopipe_stage_settings():
            yield StageSettings(stage=Stage.DEPLOY, options=DeploySettings)
    """


@hookspec
def gopipe_mergers() -> Iterable[Merger]:
    """Register how ``gopipe merge`` folds an artifact kind from fanned-out jobs into one.

    :return: an iterable of :class:`~gopipe.types.Merger`, one per artifact kind the plugin
        produces and knows how to combine (JUnit suites, cover profiles, SARIF runs ...).

    Example::

        @hookimpl
        def gopipe_mergers():
            yield Merger(kind="bench", stage=Stage.TEST, merge=merge_benchmarks)
    """


@hookspec
def gopipe_configure(config: Config) -> None:
    """Called once per run after config is loaded and validated, before any stage runs.

    :param config: the validated :class:`~gopipe.config.Config` (read-only).

    Example::

        @hookimpl
        def gopipe_configure(config):
            if "linux/386" in config.targets:
                warnings.warn("32-bit builds are deprecated here")
    """


@hookspec
def gopipe_stage_started(run: RunContext, stage: str) -> None:
    """Called when a stage starts, from the thread that runs it.

    :param run: the :class:`~gopipe.context.RunContext` of this run.
    :param stage: the stage name, e.g. ``"test"``.

    Example::

        @hookimpl
        def gopipe_stage_started(run, stage):
            statsd.increment(f"gopipe.{stage}.started")
    """


@hookspec
def gopipe_stage_finished(run: RunContext, result: StageResult) -> None:
    """Called when a stage finishes (success, failed, skipped or cancelled).

    :param run: the :class:`~gopipe.context.RunContext` of this run.
    :param result: the stage's :class:`~gopipe.report.StageResult`.

    Example::

        @hookimpl
        def gopipe_stage_finished(run, result):
            if result.name == "lint":
                write_sarif(run.artifacts.findings("lint"))
    """


@hookspec
def gopipe_run_finished(run: RunContext, report: Report) -> None:
    """Called once after every stage (and notify) finished, before the report is written.

    :param run: the :class:`~gopipe.context.RunContext` of this run.
    :param report: the final :class:`~gopipe.report.Report`.

    Example::

        @hookimpl
        def gopipe_run_finished(run, report):
            push_metrics(report.status, report.duration_s)
    """
