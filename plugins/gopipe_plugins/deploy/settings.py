"""Declares the stage-level ``[tool.gopipe.deploy]`` keys (environments, allowed_refs).

The core validates them with the rest of the config, before a run starts: a typo in an
environment table stops the run with exit code 2 and one line naming the key, before anything
is built or pushed, not halfway through a deploy. The providers read the typed result.
"""

from __future__ import annotations

from gopipe import hookimpl
from gopipe.stages import Stage
from gopipe.types import StageSettings

from .environments import check_settings
from .options import DeploySettings


@hookimpl
def gopipe_stage_settings() -> list[StageSettings]:
    return [StageSettings(stage=Stage.DEPLOY, options=DeploySettings, check=check_settings)]
