"""Everything a plugin author needs, from one module.

A third-party provider imports only from here::

    from gopipe.api import Notifier, ProviderContext, RetryPolicy, Secret, doc, hookimpl

- registration: :data:`hookimpl`, the provider types (:class:`Linter` … :class:`Notifier`, generic
  over their options: ``Notifier[SlackOptions]``), :class:`NoOptions`, :class:`StageSettings`,
  :class:`Stage`;
- options: :func:`doc` for documented fields, :class:`Secret` for credentials,
  :class:`RetryPolicy` for the ``retry = {...}`` table every network client shares;
- running: :class:`ProviderContext` (curated, read-only views of the run; ``ctx.artifacts`` is an
  :class:`Artifacts` view), :class:`Artifact`, :class:`Finding`, :class:`GoTool` (a plugin's own
  pinned Go tool for ``ctx.tool``), :class:`Completed` (what ``ctx.sh`` returns),
  :class:`StageFailed` and :class:`ConfigError`;
- merging fanned-out jobs (``gopipe_mergers``): :class:`Merger`, :class:`MergeInput`,
  :class:`MergeOutput`, :class:`PartFile`;
- types the context and the observer hooks hand out, for annotations: :class:`Config`,
  :class:`GitInfo`, :class:`RunArgs`, :class:`RunContext`, :class:`Report`, :class:`StageResult`,
  :class:`ProviderResult`.

Anything else in ``gopipe`` is internal and may change between releases.
"""

from __future__ import annotations

from gopipe.artifacts import Artifact, Finding
from gopipe.config import Config
from gopipe.config.options import doc
from gopipe.context import Artifacts, ProviderContext, RunArgs, RunContext
from gopipe.errors import ConfigError, StageFailed
from gopipe.git import GitInfo
from gopipe.gotools import GoTool
from gopipe.hookspecs import hookimpl
from gopipe.proc import Completed
from gopipe.report import ProviderResult, Report, StageResult
from gopipe.secrets import Secret
from gopipe.stages import Stage
from gopipe.types import (
    Builder,
    CoverageReporter,
    Deployer,
    Linter,
    MergeInput,
    MergeOutput,
    Merger,
    NoOptions,
    Notifier,
    Packager,
    PartFile,
    Provider,
    Publisher,
    StageSettings,
    Tester,
    Uploader,
)
from gopipe_oci.retry import RetryPolicy

__all__ = [
    "Artifact",
    "Artifacts",
    "Builder",
    "Completed",
    "Config",
    "ConfigError",
    "CoverageReporter",
    "Deployer",
    "Finding",
    "GitInfo",
    "GoTool",
    "Linter",
    "MergeInput",
    "MergeOutput",
    "Merger",
    "NoOptions",
    "Notifier",
    "Packager",
    "PartFile",
    "Provider",
    "ProviderContext",
    "ProviderResult",
    "Publisher",
    "Report",
    "RetryPolicy",
    "RunArgs",
    "RunContext",
    "Secret",
    "Stage",
    "StageFailed",
    "StageResult",
    "StageSettings",
    "Tester",
    "Uploader",
    "doc",
    "hookimpl",
]
