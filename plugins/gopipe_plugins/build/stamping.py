"""Version stamping: which ``-X`` flags a main package needs, and which ones did nothing.

Real repositories name their build variables in many ways: ``main.version``, go-httpbin's
``main.buildDate``, podinfo's ``…/pkg/version.REVISION``. The default ldflags therefore
stamp what the code declares: the package-level string variables named like a version, a
commit or a date, in the main package and in the packages it imports from the same module
(``go list -deps``). The source is read with a small Go lexer (comments, strings, runes and
raw strings skipped; ``var ( … )`` groups; only top-level declarations) rather than a parser:
it only has to find ``var name string`` and ``var name = "literal"``, and must stay fast on
any file (:data:`MAX_FILE_BYTES`, undecodable bytes replaced).

The linker ignores an ``-X`` whose symbol does not exist, so a wrong name fails silently.
Every ``-X`` the scan does not confirm is looked up with ``go tool nm`` in the binary (or in
an unstripped link of it when ``-s`` removed the symbol table); one that is not there is a
warning naming it.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

MAX_FILE_BYTES = 4 * 1024 * 1024  # a bigger .go file is generated data, not build variables

# What a variable's name says it holds (case and underscores ignored) → the template variable.
KINDS: dict[str, str] = {
    **dict.fromkeys(("version", "appversion", "buildversion", "gitversion", "semver"), "{version}"),
    **dict.fromkeys(
        (
            "commit",
            "gitcommit",
            "commithash",
            "gitcommithash",
            "revision",
            "gitrevision",
            "githash",
            "gitsha",
            "commitsha",
            "buildcommit",
        ),
        "{commit}",
    ),
    **dict.fromkeys(
        ("date", "builddate", "buildtime", "buildtimestamp", "commitdate", "builtat", "buildat"),
        "{date}",
    ),
}
_HINT = re.compile(rb"version|commit|revision|date|time|hash|sha|built|semver", re.IGNORECASE)

_TOKEN = re.compile(
    r"""
      (?P<space>[ \t\r\f\v]+)
    | (?P<newline>\n)
    | (?P<line_comment>//[^\n]*)
    | (?P<block_comment>/\*.*?(?:\*/|\Z))
    | (?P<string>"(?:[^"\\\n]|\\.)*"?)
    | (?P<raw>`[^`]*`?)
    | (?P<rune>'(?:[^'\\\n]|\\.)*'?)
    | (?P<ident>[^\W\d]\w*)
    | (?P<number>\.?\d[\w.]*)
    | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)
# After these, a newline ends a statement (Go's automatic semicolons).
_ENDS = {"ident", "number", "string", "raw", "rune"}
_CLOSERS = {")", "]", "}"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


def tokens(source: str) -> Iterator[Token]:
    """Go tokens with comments and spaces dropped and Go's implicit semicolons made ``;``."""
    last: Token | None = None
    for m in _TOKEN.finditer(source):
        kind = m.lastgroup or "punct"
        text = m.group()
        if kind in ("space", "line_comment"):
            continue
        if kind == "block_comment":
            if "\n" not in text:
                continue
            kind, text = "newline", "\n"
        if kind == "newline":
            if last is not None and (last.kind in _ENDS or last.text in _CLOSERS):
                last = Token("punct", ";")
                yield last
            continue
        last = Token(kind, text)
        yield last


def string_vars(source: str) -> list[str]:
    """Names of the package-level variables of type string that ``-X`` can set: declared
    ``var x string`` (no value) or given a plain string literal (``var x = "dev"``)."""
    found: list[str] = []
    toks = list(tokens(source))
    depth, i = 0, 0
    while i < len(toks):
        tok = toks[i]
        if tok.text in ("(", "[", "{"):
            depth += 1
        elif tok.text in (")", "]", "}"):
            depth = max(0, depth - 1)
        elif depth == 0 and tok.kind == "ident" and tok.text == "var":
            if i + 1 < len(toks) and toks[i + 1].text == "(":
                j, inner = i + 2, 0
                spec: list[Token] = []
                while j < len(toks) and not (inner == 0 and toks[j].text == ")"):
                    t = toks[j]
                    inner += (t.text in ("(", "[", "{")) - (t.text in (")", "]", "}"))
                    if inner == 0 and t.text == ";":
                        found += _spec_vars(spec)
                        spec = []
                    else:
                        spec.append(t)
                    j += 1
                found += _spec_vars(spec)
                i = j + 1
                continue
            j, inner = i + 1, 0
            spec = []
            while j < len(toks) and not (inner == 0 and toks[j].text == ";"):
                t = toks[j]
                inner += (t.text in ("(", "[", "{")) - (t.text in (")", "]", "}"))
                spec.append(t)
                j += 1
            found += _spec_vars(spec)
            i = j
            continue
        i += 1
    return found


def _spec_vars(spec: list[Token]) -> list[str]:
    """``a, b string`` / ``a = "x"`` / ``a, b = "x", "y"`` / ``a string = "x"`` → settable names."""
    names: list[str] = []
    k = 0
    while k < len(spec) and spec[k].kind == "ident":
        names.append(spec[k].text)
        k += 1
        if k < len(spec) and spec[k].text == ",":
            k += 1
        else:
            break
    rest = spec[k:]
    eq = next((n for n, t in enumerate(rest) if t.text == "="), None)
    typ = rest if eq is None else rest[:eq]
    values = [] if eq is None else _split_commas(rest[eq + 1 :])
    if [t.text for t in typ] not in ([], ["string"]):
        return []
    if not values:
        return names if typ else []
    if len(values) != len(names):
        return []
    return [n for n, v in zip(names, values, strict=True) if len(v) == 1 and v[0].kind in ("string", "raw")]


def _split_commas(toks: list[Token]) -> list[list[Token]]:
    parts: list[list[Token]] = [[]]
    depth = 0
    for t in toks:
        depth += (t.text in ("(", "[", "{")) - (t.text in (")", "]", "}"))
        if depth == 0 and t.text == ",":
            parts.append([])
        else:
            parts[-1].append(t)
    return [p for p in parts if p]


def stamp_kind(name: str) -> str | None:
    """The template (``{version}``, ``{commit}``, ``{date}``) a variable's name asks for."""
    return KINDS.get(name.replace("_", "").lower())


def file_vars(path: Path) -> list[str]:
    """:func:`string_vars` of one Go file, bounded and tolerant of any bytes."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError:
        return []
    if len(data) > MAX_FILE_BYTES or b"var" not in data or not _HINT.search(data):
        return []
    return string_vars(data.decode("utf-8", errors="replace"))


@dataclass(frozen=True)
class Package:
    import_path: str
    name: str
    dir: Path
    go_files: tuple[str, ...]
    module: str | None


def parse_go_list(text: str) -> list[Package]:
    """The packages of ``go list -deps -json`` output (concatenated JSON objects)."""
    decoder, pos = json.JSONDecoder(), 0
    found: list[Package] = []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return found
        obj, pos = decoder.raw_decode(text, pos)
        module = obj.get("Module") or {}
        found.append(
            Package(
                import_path=str(obj.get("ImportPath", "")),
                name=str(obj.get("Name", "")),
                dir=Path(obj.get("Dir") or "."),
                go_files=tuple(obj.get("GoFiles") or ()),
                module=module.get("Path"),
            )
        )


def stamp_flags(packages: Iterable[Package], root: Path) -> dict[str, str]:
    """``{symbol: template}`` for every build variable in the main package and the packages
    of its own module (``main.version`` → ``{version}``); files outside ``root`` are not read."""
    listed = list(packages)
    main = next((p for p in listed if p.name == "main"), None)
    if main is None:
        return {}
    bound = root.resolve()
    flags: dict[str, str] = {}
    for pkg in listed:
        if pkg is not main and (main.module is None or pkg.module != main.module):
            continue
        prefix = "main" if pkg is main else pkg.import_path
        for file in pkg.go_files:
            path = (pkg.dir / file).resolve()
            if not path.is_relative_to(bound):
                continue
            for name in file_vars(path):
                kind = stamp_kind(name)
                if kind:
                    flags.setdefault(f"{prefix}.{name}", kind)
    return flags


def declared(packages: Iterable[Package], root: Path) -> set[str]:
    """Every ``-X``-settable symbol the scan sees in these packages (any name).

    Packages whose directory is outside ``root`` (the standard library, the module cache) are
    skipped without resolving each of their files: that was a ``realpath`` per file of every
    dependency (a quarter of a second for a small ``net/http`` program). A symbol missed here
    is only looked up with ``go tool nm`` instead."""
    bound = root.resolve()
    symbols = set()
    for pkg in packages:
        if not pkg.dir.resolve().is_relative_to(bound):
            continue
        prefix = "main" if pkg.name == "main" else pkg.import_path
        for file in pkg.go_files:
            path = (pkg.dir / file).resolve()
            if path.is_relative_to(bound):
                symbols |= {f"{prefix}.{name}" for name in file_vars(path)}
    return symbols


def x_symbols(ldflags: str) -> list[str]:
    """The symbols of the ``-X sym=value`` / ``-X=sym=value`` flags in ``ldflags``."""
    try:
        words = shlex.split(ldflags)
    except ValueError:
        words = ldflags.split()
    found = []
    for n, word in enumerate(words):
        spec = word[3:] if word.startswith(("-X=", "--X=")) else None
        if word in ("-X", "--X") and n + 1 < len(words):
            spec = words[n + 1]
        if spec and "=" in spec:
            found.append(spec.split("=", 1)[0])
    return found


def without_strip(ldflags: str) -> str:
    """``ldflags`` keeping the symbol table (no ``-s``/``-w``), for a lookup with ``go tool nm``."""
    return " ".join(w for w in ldflags.split() if w not in ("-s", "-w", "-s=true", "-w=true"))


def nm_symbols(output: str) -> set[str]:
    """Symbol names from ``go tool nm`` output (``addr type name``)."""
    names = set()
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            names.add(parts[-1])
    return names


def render_x_flags(flags: Mapping[str, str]) -> str:
    return " ".join(f"-X {symbol}={template}" for symbol, template in flags.items())
