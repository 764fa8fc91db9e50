"""Validates ``[tool.gopipe.deploy]`` (environments, allowed_refs) before a run starts.

A typo in an environment table must stop the run with exit code 2 and one line naming the key,
before anything is built or pushed, not halfway through a deploy.
"""

from __future__ import annotations

from gopipe import hookimpl
from gopipe.config import Config
from gopipe.stages import Stage
from gopipe.types import StageSettings

from .environments import load_settings
from .options import DeploySettings


@hookimpl
def gopipe_stage_settings() -> list[StageSettings]:
    return [StageSettings(stage=Stage.DEPLOY, options=DeploySettings)]


@hookimpl
def gopipe_configure(config: Config) -> None:
    load_settings(config)
