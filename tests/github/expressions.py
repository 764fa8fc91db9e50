"""Just enough of GitHub's expression language and branch filters to evaluate what gopipe
generates, so tests can ask "would this job run for that ref?" instead of comparing text."""

from __future__ import annotations

import re
from collections.abc import Mapping

_TOKEN = re.compile(r"\s*(\|\||&&|==|!=|!|\(|\)|,|'(?:[^']|'')*'|[A-Za-z_][A-Za-z0-9_.-]*)")
_FUNCTIONS = {
    "startswith": lambda a, b: a.lower().startswith(b.lower()),
    "endswith": lambda a, b: a.lower().endswith(b.lower()),
    "contains": lambda a, b: b.lower() in a.lower(),
}


def evaluate(expression: str, context: Mapping[str, str]) -> bool:
    """Evaluate a job ``if:`` made of ``==``/``!=``, ``&&``/``||``, ``!``, parentheses and
    ``startsWith``/``endsWith``/``contains``; status functions are refused, not guessed."""
    text = expression.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    tokens: list[str] = []
    pos = 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"cannot parse {text[pos:]!r}")
        tokens.append(match.group(1))
        pos = match.end()
    value, rest = _or(tokens, context)
    if rest:
        raise ValueError(f"trailing tokens {rest}")
    return bool(value)


def _or(tokens: list[str], ctx: Mapping[str, str]) -> tuple[object, list[str]]:
    left, tokens = _and(tokens, ctx)
    while tokens and tokens[0] == "||":
        right, tokens = _and(tokens[1:], ctx)
        left = left or right
    return left, tokens


def _and(tokens: list[str], ctx: Mapping[str, str]) -> tuple[object, list[str]]:
    left, tokens = _compare(tokens, ctx)
    while tokens and tokens[0] == "&&":
        right, tokens = _compare(tokens[1:], ctx)
        left = left and right
    return left, tokens


def _compare(tokens: list[str], ctx: Mapping[str, str]) -> tuple[object, list[str]]:
    left, tokens = _unary(tokens, ctx)
    if tokens and tokens[0] in ("==", "!="):
        op = tokens[0]
        right, tokens = _unary(tokens[1:], ctx)
        same = str(left).lower() == str(right).lower()  # GitHub compares strings ignoring case
        return (same if op == "==" else not same), tokens
    return left, tokens


def _unary(tokens: list[str], ctx: Mapping[str, str]) -> tuple[object, list[str]]:
    head = tokens[0]
    if head == "!":
        value, rest = _unary(tokens[1:], ctx)
        return not value, rest
    if head == "(":
        value, rest = _or(tokens[1:], ctx)
        assert rest[0] == ")", rest
        return value, rest[1:]
    if head.startswith("'"):
        return head[1:-1].replace("''", "'"), tokens[1:]
    if head in ("true", "false"):
        return head == "true", tokens[1:]
    if len(tokens) > 1 and tokens[1] == "(":
        name = head.lower()
        if name not in _FUNCTIONS:
            raise ValueError(f"{head}() is not evaluated here")
        args: list[object] = []
        rest = tokens[2:]
        while rest[0] != ")":
            arg, rest = _or(rest, ctx)
            args.append(arg)
            if rest[0] == ",":
                rest = rest[1:]
        return _FUNCTIONS[name](*(str(a) for a in args)), rest[1:]
    if head not in ctx:
        raise ValueError(f"unknown context value {head}")
    return ctx[head], tokens[1:]


def filter_matches(pattern: str, name: str) -> bool:
    """GitHub's branch/tag filter glob: ``*`` stops at ``/``, ``**`` does not, ``\\`` escapes."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "[":
            end = pattern.index("]", i)
            out.append(pattern[i : end + 1])
            i = end + 1
        elif c in "?+":
            raise ValueError(f"{c} in {pattern!r} is a GitHub quantifier gopipe never writes")
        else:
            out.append(re.escape(c))
            i += 1
    return re.fullmatch("".join(out), name) is not None
