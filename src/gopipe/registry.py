"""Collect providers and stage settings from the hooks; validate stage tables; select by name."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import pluggy

from gopipe import __version__
from gopipe.config import Config, parse_options
from gopipe.config.loader import Settings
from gopipe.config.options import did_you_mean, secret_kind
from gopipe.config.stage_settings import (
    STAGE_KEYS,
    NoSettings,
    NotifySettings,
    PublishSettings,
    ValidatedStage,
    settings_keys,
    validate_stage,
)
from gopipe.errors import ConfigError, PluginError
from gopipe.manager import GopipePluginManager
from gopipe.secrets import Redactor
from gopipe.stages import Stage
from gopipe.types import PROVIDER_TYPES, Provider, StageSettings

REGISTRATION_HOOKS: dict[Stage, str] = {
    Stage.LINT: "gopipe_linters",
    Stage.TEST: "gopipe_testers",
    Stage.COVERAGE: "gopipe_coverage_reporters",
    Stage.BUILD: "gopipe_builders",
    Stage.PACKAGE: "gopipe_packagers",
    Stage.UPLOAD: "gopipe_uploaders",
    Stage.PUBLISH: "gopipe_publishers",
    Stage.DEPLOY: "gopipe_deployers",
    Stage.NOTIFY: "gopipe_notifiers",
}

# Stage settings the core itself reads (the runner applies ``fail_on_error``, the release
# checks ``tag_prefix`` and writes the changelog), so they exist
# whichever plugins are installed or blocked.
CORE_STAGE_SETTINGS: tuple[StageSettings, ...] = (
    StageSettings(stage=Stage.NOTIFY, options=NotifySettings),
    StageSettings(stage=Stage.PUBLISH, options=PublishSettings),
)


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
        stage_settings: Mapping[Stage, StageSettings] | None = None,
        *,
        pm: pluggy.PluginManager | None = None,
        deferred: Mapping[Stage, Mapping[str, str]] | None = None,
    ) -> None:
        self._by_stage = {stage: dict(found) for stage, found in by_stage.items()}
        self.stage_settings: Mapping[Stage, StageSettings] = stage_settings or {}
        self._pm = pm
        # provider name -> held-back plugin, per stage (see GopipePluginManager)
        self._deferred = {stage: dict(names) for stage, names in (deferred or {}).items()}

    @classmethod
    def collect(cls, pm: pluggy.PluginManager) -> ProviderRegistry:
        deferred: dict[Stage, dict[str, str]] = {}
        if isinstance(pm, GopipePluginManager):
            for plugin, (_module, (stage, provider)) in pm.deferred.items():
                deferred.setdefault(Stage(stage), {})[provider] = plugin
        by_stage: dict[Stage, dict[str, RegisteredProvider]] = {}
        for stage in REGISTRATION_HOOKS:
            by_stage[stage] = {}
            _add_providers(pm, stage, by_stage[stage])
        clashing = [p for s, names in deferred.items() for n, p in names.items() if n in by_stage[s]]
        if clashing:  # a plugin reuses a held-back built-in's name: load it to name both
            for plugin in clashing:
                cast("GopipePluginManager", pm).load_deferred(plugin)
            return cls.collect(pm)
        names = {s: set(by_stage[s]) | set(deferred.get(s, {})) for s in by_stage}
        return cls(by_stage, _collect_stage_settings(pm, names), pm=pm, deferred=deferred)

    def _load(self, stage: Stage, name: str) -> None:
        """Import the held-back plugin of provider ``name`` and add what it registers."""
        plugin = self._deferred.get(stage, {}).pop(name, None)
        if plugin is None or not isinstance(self._pm, GopipePluginManager):
            return
        self._pm.load_deferred(plugin)
        _add_providers(self._pm, stage, self._by_stage[stage], only=plugin)

    def _names(self, stage: Stage) -> set[str]:
        """Provider names of ``stage``, imported or held back (enough to validate tables)."""
        return set(self._by_stage[stage]) | set(self._deferred.get(stage, {}))

    def providers(self, stage: Stage) -> Mapping[str, RegisteredProvider]:
        for name in list(self._deferred.get(stage, {})):
            self._load(stage, name)
        return self._by_stage[stage]

    def all(self) -> Iterable[tuple[Stage, RegisteredProvider]]:
        for stage in list(self._by_stage):
            for entry in self.providers(stage).values():
                yield stage, entry

    def secret_kind(self, path: Sequence[str | int]) -> bool | None:
        """Whether the config option at ``path`` (below ``[tool.gopipe]``) is a secret, for
        :func:`gopipe.secrets.register_config_secrets`; None when no installed type says."""
        if not path:
            return None
        head, rest = path[0], path[1:]
        if head == "cache":
            from gopipe.remote_cache.options import CacheOptions

            return secret_kind(CacheOptions, rest)
        if head not in {s.value for s in Stage}:
            return secret_kind(Settings, path) if head in Settings.__dataclass_fields__ else None
        stage = Stage(head)
        if rest:
            self._load(stage, str(rest[0]))  # a secret's type lives with its provider
        provider = self._by_stage[stage].get(str(rest[0])) if rest else None
        if provider is not None:
            return secret_kind(provider.provider.options, rest[1:])
        if stage in self.stage_settings:
            return secret_kind(self.stage_settings[stage].options, rest)
        return None

    def validate(
        self, config: Config, redactor: Redactor | None = None, stages: Iterable[Stage] = tuple(Stage)
    ) -> Config:
        """``config`` with the tables of ``stages`` (default: all) validated against these plugins.

        Call once per run, after :meth:`collect` and before :meth:`select`; afterwards
        ``config.stage(s).settings`` is the typed stage settings and ``.tables`` the provider
        tables. Raises :class:`ConfigError` naming the first bad key.
        """
        validated = dict(config.stages)
        for stage in stages:
            validated[stage] = replace(
                config.stage(stage), validated=self._validate_stage(config, stage, redactor)
            )
        return replace(config, stages=validated)

    def _validate_stage(self, config: Config, stage: Stage, redactor: Redactor | None) -> ValidatedStage:
        declared = self.stage_settings.get(stage)
        return validate_stage(
            config,
            stage,
            providers=self._names(stage),
            options=declared.options if declared else NoSettings,
            check=declared.check if declared else None,
            redactor=redactor,
        )

    def select(
        self, config: Config, stage: Stage, redactor: Redactor | None = None
    ) -> list[SelectedProvider]:
        """Providers named in config for ``stage``, with their options validated.

        ``config`` normally comes from :meth:`validate`; a config straight from
        ``load_config`` has this stage's table validated here first.
        """
        if config.stage(stage).validated is None:
            config = self.validate(config, redactor, stages=(stage,))
        tables = config.stage(stage).tables
        for name in config.stage(stage).providers:
            self._load(stage, name)
        available = self._by_stage[stage]
        shown = config.display_file
        key = f"tool.gopipe.{stage}"
        selected: list[SelectedProvider] = []
        for name in config.stage(stage).providers:
            if name not in available:
                known = self._names(stage)
                choices = ", ".join(sorted(known)) or "(none installed)"
                hint = did_you_mean(name, known)
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
                tables.get(name, {}),
                file=shown,
                key=f"{key}.{name}",
                base=config.root,
                redactor=redactor,
            )
            if entry.provider.check is not None:
                entry.provider.check(config, options)
            selected.append(SelectedProvider(entry, options))
        _check_order(selected, shown, f"{key}.providers")
        return selected


def _check_order(selected: Sequence[SelectedProvider], file: str, key: str) -> None:
    """The ``after`` declarations among the selected providers must not form a cycle."""
    names = {s.name for s in selected}
    after = {s.name: [a for a in s.registered.provider.after if a in names and a != s.name] for s in selected}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join([*path[path.index(name) :], name])
            raise ConfigError(
                file,
                key,
                f"providers wait for each other ({cycle}: each runs after the next)",
                "select only one of them, or report it to their plugins' authors",
            )
        state[name] = 1
        for dep in after[name]:
            visit(dep, [*path, name])
        state[name] = 2

    for s in selected:
        visit(s.name, [])


def _add_providers(
    pm: pluggy.PluginManager, stage: Stage, found: dict[str, RegisteredProvider], only: str | None = None
) -> None:
    """Add the providers ``stage``'s registration hook returns (of plugin ``only``, if given)."""
    hook_name = REGISTRATION_HOOKS[stage]
    expected = PROVIDER_TYPES[stage]
    dists = {id(plugin): (dist.project_name, dist.version) for plugin, dist in pm.list_plugin_distinfo()}
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        if only is not None and impl.plugin_name != only:
            continue
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
                builtins = pm.builtin_names if isinstance(pm, GopipePluginManager) else set()
                if entry.plugin in builtins and first.plugin not in builtins:
                    first, entry = entry, first  # a held-back built-in is named first, as when eager
                raise PluginError(
                    f"plugin '{impl.plugin_name}'",
                    hook_name,
                    f"provider '{provider.name}' for stage '{stage}' is registered twice: "
                    f"by {first.origin()} and by {entry.origin()}",
                    "uninstall one of them or block one with disable_plugins",
                )
            found[provider.name] = entry


def _collect_stage_settings(
    pm: pluggy.PluginManager, by_stage: Mapping[Stage, Collection[str]]
) -> dict[Stage, StageSettings]:
    """One declaration per stage (the core's first), whose keys clash with nothing else."""
    found: dict[Stage, tuple[StageSettings, str]] = {
        s.stage: (s, "gopipe (core)") for s in CORE_STAGE_SETTINGS
    }
    for impl in pm.hook.gopipe_stage_settings.get_hookimpls():
        where = f"plugin '{impl.plugin_name}'"
        returned = cast("Iterable[object] | None", impl.function())
        for entry in returned or ():
            if not isinstance(entry, StageSettings):
                raise PluginError(
                    where,
                    "gopipe_stage_settings",
                    f"returned {type(entry).__name__}, expected StageSettings",
                    "return StageSettings(stage=..., options=...) objects",
                )
            if entry.stage in found:
                raise PluginError(
                    where,
                    "gopipe_stage_settings",
                    f"settings of stage '{entry.stage}' are already declared by {found[entry.stage][1]}",
                    "declare each stage's settings once; uninstall or block one of the plugins",
                )
            clash = sorted(settings_keys(entry.options) & (STAGE_KEYS | set(by_stage[entry.stage])))
            if clash:
                raise PluginError(
                    where,
                    "gopipe_stage_settings",
                    f"stage '{entry.stage}' settings reuse the key(s) {', '.join(clash)} "
                    "of providers/timeout or of a provider table",
                    "rename the setting",
                )
            found[entry.stage] = (entry, where)
    return {stage: entry for stage, (entry, _) in found.items()}
