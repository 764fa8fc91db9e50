"""Config: ``[tool.gopipe]`` in the Go repo's pyproject.toml, typed and validated."""

from gopipe.config.loader import Config, StageConfig, load_config
from gopipe.config.options import doc, parse_options, schema_for
from gopipe.config.stage_settings import NoSettings, NotifySettings

__all__ = [
    "Config",
    "NoSettings",
    "NotifySettings",
    "StageConfig",
    "doc",
    "load_config",
    "parse_options",
    "schema_for",
]
