"""Everything a plugin author needs, from one module.

A third-party provider imports only from here::

    from gopipe.api import Notifier, ProviderContext, Secret, StageFailed, doc, hookimpl

Anything else in ``gopipe`` is internal and may change between releases.
"""

from __future__ import annotations

from gopipe.artifacts import Artifact, Finding
from gopipe.config.options import doc
from gopipe.context import ProviderContext
from gopipe.errors import ConfigError, StageFailed
from gopipe.gotools import GoTool
from gopipe.hookspecs import hookimpl
from gopipe.secrets import Secret
from gopipe.stages import Stage
from gopipe.types import (
    Builder,
    CoverageReporter,
    Deployer,
    Linter,
    NoOptions,
    Notifier,
    Packager,
    Provider,
    StageSettings,
    Tester,
    Uploader,
)

__all__ = [
    "Artifact",
    "Builder",
    "ConfigError",
    "CoverageReporter",
    "Deployer",
    "Finding",
    "GoTool",
    "Linter",
    "NoOptions",
    "Notifier",
    "Packager",
    "Provider",
    "ProviderContext",
    "Secret",
    "Stage",
    "StageFailed",
    "StageSettings",
    "Tester",
    "Uploader",
    "doc",
    "hookimpl",
]
