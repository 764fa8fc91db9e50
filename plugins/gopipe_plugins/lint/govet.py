"""``go vet``: analyzer findings (JSON, for rule names) plus compile errors (text)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from gopipe import hookimpl
from gopipe.artifacts import Finding
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.types import Linter
from gopipe_plugins._common.findings import parse_positions, relative, report
from gopipe_plugins.lint import driver

_HOME = "https://pkg.go.dev/cmd/vet"
_PASSES = "https://pkg.go.dev/golang.org/x/tools/go/analysis/passes/"
_ANALYZER = re.compile(r"^ {4}(?P<name>[a-z][a-z0-9]*)\s+(?P<doc>\S.*)$")


@dataclass(frozen=True)
class GovetOptions:
    """go vet settings."""

    packages: tuple[str, ...] = doc("package patterns", ("./...",))
    flags: tuple[str, ...] = doc("extra go vet flags, e.g. ['-tags=integration']", ())


def run(ctx: ProviderContext[GovetOptions]) -> None:
    go = ctx.go.require(ctx.config.display_file)
    res = ctx.sh([go, "vet", "-json", *ctx.options.flags, *ctx.options.packages], echo=False)
    findings = _parse(res.stdout + res.stderr, ctx)
    if res.returncode != 0:  # the compiler's output, as it printed it
        ctx.log_block(f"go vet (exit {res.returncode})", res.output.rstrip("\n").splitlines())
    driver.record(ctx, driver.Driver("go vet", ctx.go.version(), _HOME, _rules(ctx, go, findings)))
    if res.returncode != 0 and not findings:
        ctx.fail(f"go vet failed (exit {res.returncode}): " + ctx.clip(res.output.strip(), 300, tail=True))
    report(ctx, "go vet", findings)


def _rules(ctx: ProviderContext[GovetOptions], go: str, findings: list[Finding]) -> dict[str, driver.Rule]:
    """Descriptors for the analyzers that reported, titled by ``go tool vet help``."""
    names = {f.rule for f in findings}
    if not names:
        return {}
    titles = {}
    if names - {"compile"}:
        listing = ctx.sh([go, "tool", "vet", "help"], echo=False).output
        titles = {m["name"]: m["doc"].strip() for m in map(_ANALYZER.match, listing.splitlines()) if m}
    rules = {
        name: driver.Rule(titles.get(name, f"go vet {name} analyzer"), _PASSES + name)
        for name in names
        if name != "compile"
    }
    if "compile" in names:
        rules["compile"] = driver.Rule("The package does not compile", "https://go.dev/ref/spec")
    return rules


def _parse(text: str, ctx: ProviderContext[GovetOptions]) -> list[Finding]:
    """``go vet -json`` interleaves ``# pkg`` lines, JSON objects and compiler errors."""
    findings: list[Finding] = []
    decoder = json.JSONDecoder()
    plain: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "{":
            try:
                obj, pos = decoder.raw_decode(text, pos)
            except json.JSONDecodeError:
                pass
            else:
                findings.extend(_from_json(obj, ctx))
                continue
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        plain.append(text[pos:end])
        pos = end + 1
    findings.extend(parse_positions("\n".join(plain), "go vet", "compile", ctx.root))
    return findings


def _from_json(obj: dict[str, dict[str, object]], ctx: ProviderContext[GovetOptions]) -> list[Finding]:
    out = []
    for analyzers in obj.values():
        for analyzer, diags in analyzers.items():
            if not isinstance(diags, list):  # {"error": ...} for analyzer failures
                continue
            for d in diags:
                file, _, rest = str(d["posn"]).rpartition(".go:")
                line, _, col = rest.partition(":")
                out.append(
                    Finding(
                        "go vet",
                        analyzer,
                        str(d["message"]),
                        file=relative(file + ".go", ctx.root),
                        line=int(line) if line.isdigit() else None,
                        col=int(col) if col.isdigit() else None,
                    )
                )
    return out


@hookimpl
def gopipe_linters() -> list[Linter[GovetOptions]]:
    return [
        Linter(name="govet", run=run, options=GovetOptions, description="go vet with analyzer names as rules")
    ]
