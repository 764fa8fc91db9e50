"""Declares the stage-level ``[tool.gopipe.deploy]`` keys (environments, allowed_refs).

The core validates them with the rest of the config, before a run starts: a typo in an
environment table, or a ``--env`` that names no environment, stops the run with exit code 2 and
one line naming the key, before anything is built or pushed, not halfway through a deploy. The
providers read the typed result.
"""

from __future__ import annotations

from gopipe import hookimpl
from gopipe.config import Config
from gopipe.context import RunArgs
from gopipe.stages import Stage
from gopipe.types import StageSettings

from .environments import check_environment_arg, check_settings
from .options import DeploySettings


@hookimpl
def gopipe_stage_settings() -> list[StageSettings]:
    return [StageSettings(stage=Stage.DEPLOY, options=DeploySettings, check=check_settings)]


@hookimpl
def gopipe_configure(config: Config, args: RunArgs) -> None:
    """An unknown ``--env`` stops the run before any stage runs (exit 2, did-you-mean)."""
    check_environment_arg(config, args.environment)
