"""A module's config in a monorepo: the root's ``[tool.gopipe]``, inherited and overridden.

Three layers, the later winning (see docs/monorepo.md):

1. the root ``pyproject.toml``'s ``[tool.gopipe]`` (without its ``modules`` table);
2. the root's ``[tool.gopipe.modules."services/api"]`` table;
3. ``services/api/pyproject.toml``'s own ``[tool.gopipe]``.

Tables merge key by key, at every depth; anything else (a string, a number, an array such as
``providers`` or ``targets``) is replaced whole by the later layer. An error in the merged
config is told against the layer that wrote the key, so it names that file and key.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gopipe.config.loader import Config, config_from_raw, read_tool_table
from gopipe.errors import ConfigError

ROOT_KEY = "tool.gopipe"


@dataclass(frozen=True)
class Layer:
    """One source of a module's config: ``raw`` as written, at ``key`` in ``file``."""

    file: Path
    key: str
    raw: Mapping[str, Any]


Explain = Callable[[ConfigError], ConfigError]


def merge_tables(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: tables merged at every depth, other values replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_tables(merged[key], value)
        else:
            merged[key] = value
    return merged


def module_tables(root_raw: Mapping[str, Any], root_file: Path, paths: Sequence[str]) -> Mapping[str, Any]:
    """``[tool.gopipe.modules]``, checked: a table of tables named by the modules' paths."""
    shown = _shown(root_file)
    tables = root_raw.get("modules", {})
    if not isinstance(tables, Mapping):
        raise ConfigError(
            shown, "tool.gopipe.modules", "expected a table", 'write [tool.gopipe.modules."PATH"]'
        )
    for name, table in tables.items():
        key = f'tool.gopipe.modules."{name}"'
        if name not in paths:
            hint = difflib.get_close_matches(name, paths, n=1)
            raise ConfigError(
                shown,
                key,
                f"{name!r} is not a module of this repository",
                (f"did you mean {hint[0]!r}? " if hint else "") + "modules: " + ", ".join(paths),
            )
        if not isinstance(table, Mapping):
            raise ConfigError(shown, key, "expected a table", f"write [{key}]")
    return tables


def module_layers(root_file: Path, root_raw: Mapping[str, Any], path: str, module_dir: Path) -> list[Layer]:
    """The layers of the module at ``path``, most general first."""
    layers = [Layer(root_file, ROOT_KEY, {k: v for k, v in root_raw.items() if k != "modules"})]
    table = (root_raw.get("modules") or {}).get(path)
    if table:
        layers.append(Layer(root_file, f'{ROOT_KEY}.modules."{path}"', table))
    own_file = (module_dir / "pyproject.toml").resolve()
    if own_file != root_file.resolve():
        raw, present = read_tool_table(own_file)
        if present:
            if "modules" in raw:
                raise ConfigError(
                    _shown(own_file),
                    "tool.gopipe.modules",
                    "only the repository's top pyproject.toml may have a modules table",
                    "move it to the top pyproject.toml, or write this module's keys directly",
                )
            layers.append(Layer(own_file, ROOT_KEY, raw))
    return layers


def layered_config(module_dir: Path, layers: Sequence[Layer], *, present: bool) -> tuple[Config, Explain]:
    """The module's Config from its layers, and how to tell an error against its layer."""
    raw: dict[str, Any] = {}
    for layer in layers:
        raw = merge_tables(raw, layer.raw)
    file = layers[-1].file  # the most specific file: where the module's own keys live
    explain = _explainer(layers, _shown(file))
    try:
        config = config_from_raw(module_dir.resolve(), file, raw, present=present)
    except ConfigError as exc:
        raise explain(exc) from None
    return config, explain


def _explainer(layers: Sequence[Layer], merged_file: str) -> Explain:
    def explain(error: ConfigError) -> ConfigError:
        if error.file != merged_file or not (error.key == ROOT_KEY or error.key.startswith(ROOT_KEY + ".")):
            return error
        path = [p for p in error.key[len(ROOT_KEY) :].split(".") if p]
        best: tuple[int, Layer] | None = None
        for layer in reversed(layers):  # the most specific layer that wrote the key
            depth = _depth_written(layer.raw, path)
            if best is None or depth > best[0]:
                best = (depth, layer)
        if best is None or best[0] == 0:
            return error
        layer = best[1]
        key = ".".join([layer.key, *path]) if path else layer.key
        return replace(error, file=_shown(layer.file), key=key)

    return explain


def _depth_written(raw: Mapping[str, Any], path: Sequence[str]) -> int:
    """How many leading parts of ``path`` the table ``raw`` spells out."""
    depth, here = 0, raw
    for part in path:
        if not isinstance(here, Mapping) or part not in here:
            break
        depth, here = depth + 1, here[part]
    return depth


def _shown(file: Path) -> str:
    try:
        return str(file.relative_to(Path.cwd()))
    except ValueError:
        return str(file)
