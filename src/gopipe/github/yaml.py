"""A small, deterministic YAML writer for GitHub workflow files.

gopipe's dependency set is fixed (no PyYAML), and workflows need things a generic dumper
does poorly anyway: a ``# vX.Y.Z`` comment after a SHA-pinned ``uses:``, literal blocks
for ``run:`` scripts, and byte-identical output for identical input so ``--check`` can
compare files. Only the shapes workflows use are supported: mappings (insertion order is
kept), sequences, strings, integers, booleans and null.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Plain (unquoted) scalars: conservative, so no YAML 1.1/1.2 reader can type them differently.
_PLAIN = re.compile(r"^[A-Za-z0-9_$~/.(][^\n#]*$")
_RESERVED = re.compile(
    r"^(?:true|false|yes|no|on|off|y|n|null|~|[-+]?(?:\d[\d_]*)?(?:\.\d*)?(?:e[-+]?\d+)?"
    r"|0x[0-9a-f]+|0o[0-7]+|[-+]?\.?inf|\.nan|\d+(?::\d+)+)$",
    re.IGNORECASE,
)
_INDENT = "  "


@dataclass(frozen=True)
class Commented:
    """A scalar followed by a trailing comment, e.g. ``uses: a/b@<sha> # v4.2.2``."""

    value: str
    comment: str


class Block(str):
    """A string written as a literal block (``|``), for multi-line ``run:`` scripts."""


def dump(document: Mapping[str, Any], header: str = "") -> str:
    """Render a mapping as a YAML document; ``header`` lines become leading comments."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    _mapping(document, 0, lines)
    return "\n".join(lines) + "\n"


def scalar(value: Any, *, flow: bool = False) -> str:
    """One scalar as YAML text; quoted (JSON style, valid YAML) unless plainly safe."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Commented):
        return f"{scalar(value.value, flow=flow)} # {value.comment}"
    if not isinstance(value, str):
        raise TypeError(f"cannot write {type(value).__name__} to YAML")
    text = str(value)
    plain = (
        _PLAIN.match(text)
        and not _RESERVED.match(text)
        and ": " not in text
        and not text.endswith((":", " "))
        and not (flow and any(c in text for c in ",[]{}"))
    )
    return text if plain else json.dumps(text, ensure_ascii=False)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, bool, Commented))


def _mapping(data: Mapping[str, Any], depth: int, out: list[str]) -> None:
    pad = _INDENT * depth
    for key, value in data.items():
        k = scalar(key)
        if isinstance(value, Block):
            text = str(value)
            out.append(f"{pad}{k}: |" + ("" if text.endswith("\n") else "-"))
            out.extend(f"{pad}{_INDENT}{line}".rstrip() for line in text.rstrip("\n").split("\n"))
        elif value is None:
            out.append(f"{pad}{k}:")
        elif _is_scalar(value):
            out.append(f"{pad}{k}: {scalar(value)}")
        elif isinstance(value, Mapping):
            if not value:
                out.append(f"{pad}{k}: {{}}")
            else:
                out.append(f"{pad}{k}:")
                _mapping(value, depth + 1, out)
        elif isinstance(value, Sequence):
            if not value:
                out.append(f"{pad}{k}: []")
            elif (
                all(_is_scalar(v) and not isinstance(v, Commented) for v in value)
                and len(", ".join(scalar(v, flow=True) for v in value)) <= 80
            ):
                out.append(f"{pad}{k}: [{', '.join(scalar(v, flow=True) for v in value)}]")
            else:
                out.append(f"{pad}{k}:")
                _sequence(value, depth + 1, out)
        else:
            raise TypeError(f"cannot write {type(value).__name__} to YAML at {key!r}")


def _sequence(items: Sequence[Any], depth: int, out: list[str]) -> None:
    pad = _INDENT * depth
    for item in items:
        if isinstance(item, Mapping) and item:
            nested: list[str] = []
            _mapping(item, depth + 1, nested)
            first = nested[0][len(pad) + len(_INDENT) :]
            out.append(f"{pad}- {first}")
            out.extend(nested[1:])
        elif _is_scalar(item) and not isinstance(item, Block):
            out.append(f"{pad}- {scalar(item)}")
        else:
            raise TypeError(f"cannot write {type(item).__name__} as a sequence item")
