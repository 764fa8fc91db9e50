"""Fill ``{version}``-style templates from config, strictly: a typo is a config error.

``str.format`` would accept far more than a variable name (``{0}``, ``{version.__class__}``,
``{tag[0]}``, nested ``{x:{y}}``) and fail with a bare ``KeyError``/``ValueError`` far from
the key that holds the template. Here a field is a known variable name, optionally with a
``!s``/``!r`` conversion and a format spec; anything else is a :class:`ConfigError` naming
the key and listing the variables it may use.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

from gopipe.config.options import did_you_mean
from gopipe.errors import ConfigError

_FIX_BRACES = "write a literal brace as {{ or }}"


def render_template(template: str, variables: Mapping[str, str], *, file: str, key: str) -> str:
    """``template`` with each ``{name}`` replaced by ``variables[name]``."""
    known = ", ".join("{" + name + "}" for name in sorted(variables))

    def error(message: str, fix: str) -> ConfigError:
        return ConfigError(file, key, f"template {template!r}: {message}"[:300], f"{fix}; variables: {known}")

    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise error(f"{exc}", _FIX_BRACES) from None
    out: list[str] = []
    for literal, field, spec, conversion in parsed:
        out.append(literal)
        if field is None:
            continue
        if field not in variables:
            if not field or field.isdigit():
                raise error(f"positional field {{{field}}} is not a variable", "name a variable")
            hint = did_you_mean(field, variables) or "name a variable"
            raise error(f"unknown template variable {{{field}}}", hint)
        if conversion not in (None, "s", "r"):
            raise error(f"unknown conversion !{conversion}", "use !s or !r, or none")
        if spec and ("{" in spec or "}" in spec):
            raise error("nested fields in a format spec are not supported", _FIX_BRACES)
        value = variables[field]
        if conversion == "r":
            value = repr(value)
        try:
            out.append(format(value, spec or ""))
        except ValueError as exc:
            raise error(f"bad format spec {spec!r} for {{{field}}}: {exc}", "e.g. {version:>10}") from None
    return "".join(out)
