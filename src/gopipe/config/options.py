"""Validate a TOML table into an options dataclass, and describe it as JSON Schema.

Hand-written on ``typing`` introspection because gopipe's dependency set is fixed
(nox, pluggy, rich, GitPython) and the rules are small: unknown keys with a did-you-mean,
wrong types, and secrets allowed only by reference. The same walk over the type hints
produces the JSON Schema, so validation and ``gopipe schema`` cannot disagree.

An options class may name keys it used to accept in ``RENAMED_KEYS`` (a class variable
mapping the old key to ``(new key, how to convert)``), so an old config gets a did-you-mean
that points at the new key. A ``ValueError`` from the class's ``__post_init__`` (a value out
of range) becomes a :class:`ConfigError` naming the table.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

from gopipe.errors import ConfigError
from gopipe.secrets import Redactor, Secret, looks_like_plaintext_secret

T = TypeVar("T")

_NONE = type(None)


# Bounds every number in config: a timeout of 1e300 seconds or a count of 2**70 is a typo,
# and Python would only fail later and far away (thread join overflow, sleep overflow).
MAX_NUMBER = 2**53
# Constraints a field may declare with ``doc(...)``; checked by :func:`parse_options` and
# shown by :func:`schema_for` under the JSON Schema keyword of the same meaning.
_CONSTRAINTS = {"minimum": "minimum", "maximum": "maximum", "min_items": "minItems", "unique": "uniqueItems"}


def doc(
    text: str,
    default: Any = dataclasses.MISSING,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    min_items: int | None = None,
    unique: bool = False,
    **kwargs: Any,
) -> Any:
    """A dataclass field with a description for ``gopipe schema``, and optional constraints:
    ``minimum``/``maximum`` for numbers, ``min_items``/``unique`` for arrays."""
    if default is not dataclasses.MISSING and isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple or default_factory for mutable defaults")
    metadata: dict[str, Any] = {"doc": text}
    for name, value in (("minimum", minimum), ("maximum", maximum), ("min_items", min_items)):
        if value is not None:
            metadata[name] = value
    if unique:
        metadata["unique"] = True
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


def check_constraints(value: Any, metadata: Mapping[str, Any], file: str, key: str) -> None:
    """Raise :class:`ConfigError` when ``value`` breaks a constraint declared with :func:`doc`."""
    leaf = key.rsplit(".", 1)[-1]
    low, high = metadata.get("minimum"), metadata.get("maximum")
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and ((low is not None and value < low) or (high is not None and value > high)):
        if low is not None and high is not None:
            span = f"between {low:g} and {high:g}"
        else:
            span = f"at least {low:g}" if low is not None else f"at most {high:g}"
        raise ConfigError(file, key, f"{value!r} is out of range", f"set {leaf} to a number {span}")
    if isinstance(value, tuple):
        need = metadata.get("min_items")
        if need is not None and len(value) < need:
            raise ConfigError(file, key, "empty list", f"list at least {need} value(s), or remove {leaf}")
        if metadata.get("unique"):
            twice = sorted({str(v) for v in value if value.count(v) > 1})
            if twice:
                raise ConfigError(file, key, f"listed twice: {', '.join(twice)}", "list each value once")


def did_you_mean(word: str, candidates: typing.Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else ""


def unknown_key_error(file: str, key: str, name: str, allowed: typing.Iterable[str]) -> ConfigError:
    allowed = sorted(allowed)
    hint = did_you_mean(name, allowed)
    fix = hint or ("allowed keys: " + ", ".join(allowed) if allowed else "remove it")
    return ConfigError(file, key, f"unknown key '{name}'", fix)


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is Secret:
        return '{ env = "NAME" } or { file = "path" }'
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        return "array"
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return "table"
    if origin in (typing.Union, types.UnionType):
        choices = [_type_name(a) for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(dict.fromkeys(choices))  # str | FromEnv: 'string or { env = "…" }'
    if dataclasses.is_dataclass(tp):
        required = [
            f.name
            for f in dataclasses.fields(tp)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        return "{ " + ", ".join(f'{n} = "…"' for n in required) + " }" if required else "table"
    scalars: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return scalars.get(tp) or str(getattr(tp, "__name__", tp))


def parse_options(
    cls: type[T],
    data: Mapping[str, Any],
    *,
    file: str,
    key: str,
    base: Path = Path("."),
    redactor: Redactor | None = None,
) -> T:
    """Build ``cls`` from ``data``; raise :class:`ConfigError` naming ``file`` and the key."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, Mapping):
        raise ConfigError(file, key, f"expected a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    renamed: Mapping[str, tuple[str, str]] = getattr(cls, "RENAMED_KEYS", {})
    for name in data:
        if name in renamed and name not in fields:
            new, how = renamed[name]
            raise ConfigError(file, _join(key, name), f"unknown key '{name}'", f"did you mean '{new}'? {how}")
        if name not in fields:
            raise unknown_key_error(file, _join(key, name), name, fields)
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name in data:
            values[name] = _convert(data[name], hints[name], file, _join(key, name), base, redactor)
            check_constraints(values[name], f.metadata, file, _join(key, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(
                file, _join(key, name), "required key is missing", f"set {name} = <{_type_name(hints[name])}>"
            )
    try:
        return cls(**values)
    except ValueError as exc:  # __post_init__ range checks (e.g. retry.max_attempts >= 1)
        raise ConfigError(file, key, str(exc)) from None


def _convert(value: Any, tp: Any, file: str, key: str, base: Path, redactor: Redactor | None) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    leaf = key.rsplit(".", 1)[-1]

    def wrong() -> ConfigError:
        return ConfigError(
            file,
            key,
            f"expected {_type_name(tp)}, got {type(value).__name__} {value!r}"[:200],
            f"set {leaf} to a {_type_name(tp)}",
        )

    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not _NONE]
        errors: list[ConfigError] = []
        for option in options:
            try:
                return _convert(value, option, file, key, base, redactor)
            except ConfigError as exc:
                errors.append(exc)
        if len(options) == 1:
            raise errors[0]
        raise wrong()
    if tp is Secret:
        if isinstance(value, str):
            raise ConfigError(
                file,
                key,
                "plaintext secret in config",
                f'use {leaf} = {{ env = "{leaf.upper()}" }} and export the value',
            )
        if (
            not isinstance(value, Mapping)
            or set(value) not in ({"env"}, {"file"})
            or not all(isinstance(v, str) and v for v in value.values())
        ):
            # never echo the value: a malformed reference may hold the secret itself
            raise ConfigError(file, key, f"expected {_type_name(tp)}", f"set {leaf} to a {_type_name(tp)}")
        secret = Secret(env=value.get("env"), file=value.get("file"), redactor=redactor, base=base)
        secret.check(file, key)  # too short to mask, or a file that is not a small regular file
        return secret
    if origin is Literal:
        if value not in args:
            raise ConfigError(
                file, key, f"invalid value {value!r}", "choose one of: " + ", ".join(repr(a) for a in args)
            )
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise wrong()
        item = args[0] if args else Any
        return tuple(_convert(v, item, file, f"{key}[{i}]", base, redactor) for i, v in enumerate(value))
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise wrong()
        item = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, item, file, _join(key, str(k)), base, redactor) for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return parse_options(tp, value, file=file, key=key, base=base, redactor=redactor)
    if tp is bool:
        if not isinstance(value, bool):
            raise wrong()
        return value
    if tp in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float) if tp is float else int):
            raise wrong()
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            raise ConfigError(
                file, key, f"{value!r} is not a usable number", f"set {leaf} to a finite number"
            )
        return float(value) if tp is float else value
    if tp is str:
        if not isinstance(value, str):
            raise wrong()
        if looks_like_plaintext_secret(leaf, value):
            raise ConfigError(
                file,
                key,
                "looks like a plaintext secret",
                f'move it to the environment and reference it: {leaf} = {{ env = "NAME" }}',
            )
        return value
    raise TypeError(f"unsupported option type {tp!r} at {key}")


def secret_kind(tp: Any, path: typing.Sequence[str | int]) -> bool | None:
    """Whether the option at ``path`` inside options type ``tp`` is a :class:`Secret`.

    True for a secret, False for a plain value (``{ env = "NAME" }`` may also be a plain
    value such as a registry host), None when the types do not say (``Any``, unknown keys).
    Used to register every secret in the config before its provider is selected.
    """
    candidates = [tp]
    for part in path:
        candidates = [t for c in candidates for t in _step(c, part)]
    if not candidates:
        return None
    verdicts = {_admits_secret(t) for t in candidates}
    return True if True in verdicts else (False if verdicts == {False} else None)


def _members(tp: Any) -> list[Any]:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return [m for a in typing.get_args(tp) if a is not _NONE for m in _members(a)]
    return [tp]


def _step(tp: Any, part: str | int) -> list[Any]:
    """The types one key (or list index) below ``tp``."""
    found: list[Any] = []
    for member in _members(tp):
        origin, args = typing.get_origin(member), typing.get_args(member)
        if member is Any:
            found.append(Any)
        elif isinstance(part, int) and origin in (list, tuple):
            found.append(args[0] if args else Any)
        elif isinstance(part, str) and (origin in (dict, Mapping) or member in (dict, Mapping)):
            found.append(args[1] if len(args) == 2 else Any)
        elif isinstance(part, str) and dataclasses.is_dataclass(member) and isinstance(member, type):
            hints = typing.get_type_hints(member)
            if part in hints:
                found.append(hints[part])
    return found


def _admits_secret(tp: Any) -> bool | None:
    members = _members(tp)
    if Secret in members:
        return True
    return None if Any in members else False


def schema_for(tp: Any) -> dict[str, Any]:
    """JSON Schema (draft 2020-12 vocabulary) for an options type."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return {}
    if origin in (Union, types.UnionType):
        options = [schema_for(a) for a in args if a is not _NONE]
        return options[0] if len(options) == 1 else {"anyOf": options}
    if tp is Secret:
        return {
            "description": "secret reference; never a plaintext value",
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"env": {"type": "string"}},
                    "required": ["env"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {"file": {"type": "string"}},
                    "required": ["file"],
                    "additionalProperties": False,
                },
            ],
        }
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (list, tuple):
        return {"type": "array", "items": schema_for(args[0]) if args else {}}
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return {"type": "object", "additionalProperties": schema_for(args[1]) if len(args) == 2 else {}}
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        props: dict[str, Any] = {}
        required: list[str] = []
        for f in dataclasses.fields(tp):
            if not f.init:
                continue
            prop = schema_for(hints[f.name])
            if "doc" in f.metadata:
                prop["description"] = f.metadata["doc"]
            prop.update({word: f.metadata[name] for name, word in _CONSTRAINTS.items() if name in f.metadata})
            if f.default is not dataclasses.MISSING and _json_default(f.default) is not None:
                prop["default"] = _json_default(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                made = _json_default(f.default_factory())
                if made is not None:
                    prop["default"] = made
            elif f.default is dataclasses.MISSING:
                required.append(f.name)
            elif f.default is None:
                prop["$comment"] = UNSET  # TOML has no null: absent means "not set"
            props[f.name] = prop
        out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
        if required:
            out["required"] = required
        if tp.__doc__:
            out["description"] = " ".join(tp.__doc__.split())
        return out
    return {
        str: {"type": "string"},
        int: {"type": "integer"},
        float: {"type": "number"},
        bool: {"type": "boolean"},
    }.get(tp, {})


UNSET = "unset by default"


def _json_default(value: Any) -> Any:
    """A default as JSON (``{}``, a nested table's defaults, a secret's reference), else None."""
    if isinstance(value, Secret):  # the reference, never a value
        ref = {name: getattr(value, name, None) for name in ("env", "file")}
        return {k: v for k, v in ref.items() if v} or None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
    if isinstance(value, Mapping):
        items = {str(k): _json_default(v) for k, v in value.items()}
        return None if any(v is None for v in items.values()) else items
    if isinstance(value, (list, tuple)):
        seq = [_json_default(v) for v in value]
        return None if any(v is None for v in seq) else seq
    return value if _jsonable(value) else None


def _jsonable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, tuple)) and not isinstance(value, Secret)
