"""``gopipe schema``: JSON Schema of the whole config, built from the same option types
that validation uses, including every installed plugin's provider tables and stage settings.

The document is shaped as SchemaStore's ``partial-<tool>.json`` files are: a draft-07 schema
of the ``[tool.gopipe]`` table alone, with an ``$id``, which SchemaStore's ``pyproject.json``
references under ``tool.gopipe`` so TOML editors (Taplo, Even Better TOML, PyCharm) check and
complete it. ``schemas/partial-gopipe.json`` in this repository is this output for the
default plugins; a test fails when it is stale.
"""

from __future__ import annotations

from typing import Any

from gopipe.config import schema_for
from gopipe.config.loader import MAX_TIMEOUT_S, Settings
from gopipe.github.options import GithubOptions
from gopipe.registry import ProviderRegistry
from gopipe.remote_cache.options import CacheOptions
from gopipe.stages import DEFAULT_PROVIDERS, DEFAULT_TIMEOUT_S, PIPELINES, Stage

SCHEMA_ID = "https://json.schemastore.org/partial-gopipe.json"
SCHEMA_FILE = "schemas/partial-gopipe.json"
REGENERATE = f"gopipe schema --output {SCHEMA_FILE}"
INHERITED = "default: inherited from the top [tool.gopipe]"

STAGE_DESCRIPTIONS: dict[Stage, str] = {
    Stage.LINT: "linters run on the Go module (gofmt, go vet, staticcheck …)",
    Stage.TEST: "go test, with JUnit and the raw test stream",
    Stage.COVERAGE: "coverage reports and the threshold, from the test stage's profile",
    Stage.BUILD: "binaries for every target",
    Stage.PACKAGE: "archives and OCI images of the built binaries",
    Stage.UPLOAD: "where packages and images are pushed",
    Stage.DEPLOY: "rollouts of the uploaded images, per environment",
    Stage.PUBLISH: "where a release is published (GitHub or GitLab Releases), from a version tag",
    Stage.NOTIFY: "where the run's result is reported",
}


def _pipelines_of(stage: Stage) -> str:
    names = [name for name, stages in PIPELINES.items() if stage in stages]
    return f"; runs in nox -s {' and '.join(names)}" if names else ""


def config_schema(registry: ProviderRegistry) -> dict[str, Any]:
    """The ``[tool.gopipe]`` schema for the plugins ``registry`` holds."""
    root = schema_for(Settings)
    props: dict[str, Any] = root["properties"]
    for stage in Stage:
        providers = registry.providers(stage)
        stage_props: dict[str, Any] = {
            "providers": {
                "type": "array",
                "items": {"enum": sorted(providers)} if providers else {"type": "string"},
                "uniqueItems": True,
                "description": f"{stage} providers to run, by name; [] runs none",
                "default": list(DEFAULT_PROVIDERS[stage]),
            },
            "timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": MAX_TIMEOUT_S,
                "default": DEFAULT_TIMEOUT_S[stage],
                "description": f"seconds before the {stage} stage is stopped",
            },
        }
        if stage in registry.stage_settings:
            stage_props.update(schema_for(registry.stage_settings[stage].options)["properties"])
        for name, entry in sorted(providers.items()):
            table = schema_for(entry.provider.options)
            # The distribution, not its version: the published file changes with the options.
            table["description"] = f"{entry.provider.description or name} — from {entry.distribution}"
            stage_props[name] = table
        props[stage.value] = {
            "type": "object",
            "description": f"[tool.gopipe.{stage}]: {STAGE_DESCRIPTIONS[stage]}{_pipelines_of(stage)}",
            "properties": stage_props,
            # Tables of providers from plugins this schema was not generated with.
            "additionalProperties": {"type": "object"},
        }
    github = schema_for(GithubOptions)
    github["description"] = "[tool.gopipe.github]: the GitHub Actions workflows gopipe init --github writes"
    props["github"] = github
    # A module's layer: the same keys, merged over the top's table (docs/monorepo.md).
    layer = {
        key: {**{k: v for k, v in prop.items() if k != "default"}, "$comment": INHERITED}
        for key, prop in props.items()
    }
    props["modules"] = {
        "type": "object",
        "description": '[tool.gopipe.modules."PATH"]: config for the module at PATH (from the git root), '
        "merged over this table key by key; arrays are replaced whole",
        "default": {},
        "additionalProperties": {
            "type": "object",
            "description": "one module's layer: any [tool.gopipe] key, without modules",
            "properties": layer,
            "additionalProperties": False,
        },
    }
    props["cache"] = schema_for(CacheOptions)
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "gopipe",
        **root,
        "description": "[tool.gopipe] in pyproject.toml: Go CI/CD pipelines as nox sessions",
    }
