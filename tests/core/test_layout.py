"""The layout shows the architecture, and stays that way.

- nothing in ``src/`` names the default plugins (the core finds them through an entry point);
- no stage folder under ``plugins/gopipe_plugins/`` imports another stage's folder
  (``_common/`` is shared by all);
- the OCI library imports nothing from gopipe;
- every provider can be blocked by its own name, and blocking it removes exactly it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gopipe.manager import builtins, create_manager
from gopipe.registry import ProviderRegistry
from gopipe.stages import Stage

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "plugins" / "gopipe_plugins"


def imported_modules(path: Path) -> list[str]:
    """Absolute module names a file imports (relative imports stay inside their folder)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def test_core_names_no_plugin_module() -> None:
    offenders = [
        str(p.relative_to(ROOT)) for p in (ROOT / "src").rglob("*.py") if "gopipe_plugins" in p.read_text()
    ]
    assert offenders == []


def test_no_stage_imports_another_stage() -> None:
    crossings = []
    for path in PLUGINS.rglob("*.py"):
        parts = path.relative_to(PLUGINS).parts
        if len(parts) < 2:
            continue
        for module in imported_modules(path):
            names = module.split(".")
            if names[0] == "gopipe_plugins" and len(names) > 1 and names[1] not in (parts[0], "_common"):
                crossings.append(f"{path.relative_to(ROOT)} imports {module}")
    assert crossings == []


def test_common_helpers_import_no_stage() -> None:
    for path in (PLUGINS / "_common").rglob("*.py"):
        for module in imported_modules(path):
            names = module.split(".")
            assert names[0] != "gopipe_plugins" or names[1] == "_common", f"{path}: {module}"


def test_oci_library_is_independent() -> None:
    for path in (ROOT / "src" / "gopipe_oci").rglob("*.py"):
        for module in imported_modules(path):
            assert module.split(".")[0] not in ("gopipe", "gopipe_plugins"), f"{path}: {module}"


def test_every_stage_has_its_folder() -> None:
    folders = {p.name for p in PLUGINS.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert {s.value for s in Stage} | {"_common", "observe"} == folders


def _providers(blocked: tuple[str, ...] = ()) -> set[tuple[Stage, str]]:
    registry = ProviderRegistry.collect(create_manager(blocked, entry_points=False))
    return {(stage, entry.name) for stage, entry in registry.all()}


ALL = _providers()


@pytest.mark.parametrize("name", sorted({name for _, name in ALL}))
def test_disable_plugins_blocks_exactly_that_provider(name: str) -> None:
    assert _providers((name,)) == {(stage, n) for stage, n in ALL if n != name}


def test_builtin_plugin_names_are_provider_names() -> None:
    """A plugin that registers providers is named after its provider, so users can block it."""
    aliases = builtins().aliases
    providers = {name for _, name in ALL}
    observers = {"sarif", "notify-state", "metadata", "deploy-settings"}
    for plugin, _module in builtins().plugins:
        assert plugin in providers | observers | {p for ps in aliases.values() for p in ps}
