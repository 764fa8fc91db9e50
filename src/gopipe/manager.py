"""Create the plugin manager for one run: built-ins, then entry points, blocking first.

The built-in plugins are listed in code in the plugin package and found through one entry
point (``gopipe.builtins``), then registered exactly like third-party ones (tox 4 does the
same). A blocked name (``disable_plugins`` or ``GOPIPE_DISABLE_PLUGINS``) is blocked before
entry points load, so a broken third-party plugin can be switched off without uninstalling
it, like pytest's ``-p no:NAME``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import pluggy

from gopipe import hookspecs
from gopipe.errors import ConfigError
from gopipe.hookspecs import PROJECT

ENTRY_POINT_GROUP = "gopipe"
DISABLE_ENV = "GOPIPE_DISABLE_PLUGINS"

BUILTINS_GROUP = "gopipe.builtins"


@dataclass(frozen=True)
class Builtins:
    """The default plugins: ``(plugin name, module)`` pairs, and names that block several."""

    plugins: tuple[tuple[str, str], ...]
    aliases: Mapping[str, tuple[str, ...]]
    # plugin name -> (stage, provider) for plugins that only register that one provider
    lazy: Mapping[str, tuple[str, str]] = field(default_factory=dict)


class GopipePluginManager(pluggy.PluginManager):
    """A pluggy manager that may hold back provider-only built-ins until one is selected.

    Importing every built-in costs more than the rest of a no-op run (hundreds of dataclasses
    and regexes, the OCI and HTTP stacks); a run needs only the providers it selects.
    ``deferred`` maps a held-back plugin to its module and the one provider it registers.
    """

    def __init__(self) -> None:
        super().__init__(PROJECT)
        self.deferred: dict[str, tuple[str, tuple[str, str]]] = {}
        self.builtin_names: set[str] = set()  # registered before entry points, when eager

    def load_deferred(self, name: str) -> None:
        """Import and register the held-back plugin ``name`` (no-op once loaded)."""
        entry = self.deferred.pop(name, None)
        if entry is None:
            return
        try:
            self.register(importlib.import_module(entry[0]), name=name)
        except Exception as exc:
            raise _import_error(name, exc) from None


def builtins() -> Builtins:
    """The built-in plugin list, kept in code in the plugin package and found through the
    ``gopipe.builtins`` entry point, so the core names no plugin module itself."""
    plugins: list[tuple[str, str]] = []
    aliases: dict[str, tuple[str, ...]] = {}
    lazy: dict[str, tuple[str, str]] = {}
    found = entry_points(group=BUILTINS_GROUP)
    if not found:
        raise ConfigError(
            "gopipe installation",
            BUILTINS_GROUP,
            "no built-in plugins are installed",
            "install gopipe with pip (pip install -e . in a checkout)",
        )
    for ep in found:
        module = ep.load()
        plugins += module.BUILTIN_PLUGINS
        aliases.update(module.ALIASES)
        lazy.update(getattr(module, "LAZY_PROVIDERS", {}))
    return Builtins(tuple(plugins), aliases, lazy)


def disabled_from_env(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    value = (environ if environ is not None else os.environ).get(DISABLE_ENV, "")
    return tuple(n.strip() for n in value.replace(",", " ").split() if n.strip())


def create_manager(
    disabled: Iterable[str] = (), *, entry_points: bool = True, lazy: bool = False
) -> GopipePluginManager:
    """A fresh manager: hookspecs, blocked names, built-ins, entry points, then check.

    With ``lazy``, built-ins that only register one provider are not imported here;
    :class:`gopipe.registry.ProviderRegistry` imports one when its provider is selected.
    """
    pm = GopipePluginManager()
    pm.add_hookspecs(hookspecs)
    known = builtins()
    for name in disabled:
        for blocked in known.aliases.get(name, (name,)):
            pm.set_blocked(blocked)
    pm.builtin_names.update(name for name, _ in known.plugins)
    for name, module in known.plugins:
        if pm.is_blocked(name):
            continue
        if lazy and name in known.lazy:
            pm.deferred[name] = (module, known.lazy[name])
        else:
            try:
                pm.register(importlib.import_module(module), name=name)
            except Exception as exc:
                raise _import_error(name, exc) from None
    if entry_points:
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:
            raise _import_error(_failing_entry_point(pm) or "?", exc) from None
        # an entry point named like a held-back built-in: the built-in wins, as when eager
        for name in [n for n in pm.deferred if pm.get_plugin(n) is not None]:
            pm.unregister(name=name)
            pm.load_deferred(name)
    pm.check_pending()
    return pm


def _import_error(name: str, exc: BaseException) -> ConfigError:
    """A plugin that cannot be imported: name it, and say how to switch it off."""
    return ConfigError(
        f"plugin {name!r}",
        "disable_plugins",
        f"failed to load: {type(exc).__name__}: {exc}",
        f'fix or uninstall it, or block it: disable_plugins = ["{name}"] or GOPIPE_DISABLE_PLUGINS={name}',
    )


def _failing_entry_point(pm: pluggy.PluginManager) -> str | None:
    """Which not-yet-registered entry point fails to load (only asked after one did)."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
            continue
        try:
            ep.load()
        except Exception:
            return ep.name
    return None
