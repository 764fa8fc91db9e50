"""Collect providers from the registration hooks and select them by name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pluggy

from gopipe import __version__
from gopipe.config import Config, parse_options
from gopipe.config.options import did_you_mean
from gopipe.errors import ConfigError, PluginError
from gopipe.secrets import Redactor
from gopipe.stages import Stage
from gopipe.types import PROVIDER_TYPES, Provider

REGISTRATION_HOOKS: dict[Stage, str] = {
    Stage.LINT: "gopipe_linters",
    Stage.TEST: "gopipe_testers",
    Stage.COVERAGE: "gopipe_coverage_reporters",
    Stage.BUILD: "gopipe_builders",
    Stage.PACKAGE: "gopipe_packagers",
    Stage.UPLOAD: "gopipe_uploaders",
    Stage.DEPLOY: "gopipe_deployers",
    Stage.NOTIFY: "gopipe_notifiers",
}


@dataclass(frozen=True)
class RegisteredProvider:
    provider: Provider[Any]
    plugin: str
    distribution: str
    version: str

    @property
    def name(self) -> str:
        return self.provider.name

    def origin(self) -> str:
        return f"{self.distribution} {self.version} (plugin '{self.plugin}')"


@dataclass(frozen=True)
class SelectedProvider:
    registered: RegisteredProvider
    options: Any

    @property
    def name(self) -> str:
        return self.registered.name


class ProviderRegistry:
    """Every provider of every stage, keyed by name; built once per run."""

    def __init__(
        self,
        by_stage: Mapping[Stage, Mapping[str, RegisteredProvider]],
        stage_settings: Mapping[Stage, type[Any]] | None = None,
    ) -> None:
        self._by_stage = by_stage
        self.stage_settings: Mapping[Stage, type[Any]] = stage_settings or {}

    @classmethod
    def collect(cls, pm: pluggy.PluginManager) -> ProviderRegistry:
        dists = {id(plugin): (dist.project_name, dist.version) for plugin, dist in pm.list_plugin_distinfo()}
        by_stage: dict[Stage, dict[str, RegisteredProvider]] = {}
        for stage, hook_name in REGISTRATION_HOOKS.items():
            expected = PROVIDER_TYPES[stage]
            found: dict[str, RegisteredProvider] = {}
            for impl in getattr(pm.hook, hook_name).get_hookimpls():
                dist, version = dists.get(id(impl.plugin), ("gopipe", __version__))
                for provider in impl.function() or ():
                    if not isinstance(provider, expected):
                        raise PluginError(
                            f"plugin '{impl.plugin_name}'",
                            hook_name,
                            f"returned {type(provider).__name__}, expected {expected.__name__}",
                            f"return {expected.__name__}(name=..., run=...) objects",
                        )
                    entry = RegisteredProvider(provider, impl.plugin_name, dist, version)
                    if provider.name in found:
                        first = found[provider.name]
                        raise PluginError(
                            f"plugin '{impl.plugin_name}'",
                            hook_name,
                            f"provider '{provider.name}' for stage '{stage}' is registered twice: "
                            f"by {first.origin()} and by {entry.origin()}",
                            "uninstall one of them or block one with disable_plugins",
                        )
                    found[provider.name] = entry
            by_stage[stage] = found
        settings = {
            entry.stage: entry.options
            for entries in pm.hook.gopipe_stage_settings()
            for entry in entries or ()
        }
        return cls(by_stage, settings)

    def providers(self, stage: Stage) -> Mapping[str, RegisteredProvider]:
        return self._by_stage[stage]

    def all(self) -> Iterable[tuple[Stage, RegisteredProvider]]:
        for stage, providers in self._by_stage.items():
            for entry in providers.values():
                yield stage, entry

    def select(
        self, config: Config, stage: Stage, redactor: Redactor | None = None
    ) -> list[SelectedProvider]:
        """Providers named in config for ``stage``, with their options validated."""
        stage_config = config.stage(stage)
        available = self._by_stage[stage]
        shown = config.display_file
        key = f"tool.gopipe.{stage}"
        selected: list[SelectedProvider] = []
        for name in stage_config.providers:
            if name not in available:
                choices = ", ".join(sorted(available)) or "(none installed)"
                hint = did_you_mean(name, available)
                raise ConfigError(
                    shown,
                    f"{key}.providers",
                    f"provider '{name}' for stage '{stage}' is not available "
                    f"(plugin may not be installed); choose one of: {choices}",
                    hint or f"install the plugin that provides '{name}' or remove it",
                )
            entry = available[name]
            options = parse_options(
                entry.provider.options,
                stage_config.tables.get(name, {}),
                file=shown,
                key=f"{key}.{name}",
                base=config.root,
                redactor=redactor,
            )
            if entry.provider.check is not None:
                entry.provider.check(config, options)
            selected.append(SelectedProvider(entry, options))
        for table in stage_config.tables:
            if table not in available:
                hint = did_you_mean(table, available)
                if hint:
                    raise ConfigError(
                        shown, f"{key}.{table}", f"no provider '{table}' for stage '{stage}'", hint
                    )
        return selected
