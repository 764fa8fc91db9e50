"""``gopipe schema``: JSON Schema of the whole config, built from the same option types
that validation uses, including every installed plugin's provider tables and stage settings."""

from __future__ import annotations

from typing import Any

from gopipe.config import schema_for
from gopipe.config.loader import Settings
from gopipe.registry import ProviderRegistry
from gopipe.remote_cache.options import CacheOptions
from gopipe.stages import DEFAULT_TIMEOUT_S, Stage


def config_schema(registry: ProviderRegistry) -> dict[str, Any]:
    root = schema_for(Settings)
    props: dict[str, Any] = root["properties"]
    for stage in Stage:
        providers = registry.providers(stage)
        stage_props: dict[str, Any] = {
            "providers": {
                "type": "array",
                "items": {"enum": sorted(providers)} if providers else {"type": "string"},
                "description": f"{stage} providers to run, by name",
            },
            "timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": DEFAULT_TIMEOUT_S[stage],
                "description": "seconds",
            },
        }
        if stage in registry.stage_settings:
            stage_props.update(schema_for(registry.stage_settings[stage].options)["properties"])
        for name, entry in sorted(providers.items()):
            table = schema_for(entry.provider.options)
            table["description"] = (entry.provider.description or name) + f" — {entry.origin()}"
            stage_props[name] = table
        props[stage.value] = {
            "type": "object",
            "properties": stage_props,
            "additionalProperties": {"type": "object"},
        }
    props["cache"] = schema_for(CacheOptions)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "[tool.gopipe] in pyproject.toml",
        **root,
    }
