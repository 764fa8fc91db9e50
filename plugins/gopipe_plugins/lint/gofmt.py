"""``gofmt -l``: fail on unformatted files and show the diff; never rewrite in CI."""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gopipe import hookimpl
from gopipe.artifacts import Finding
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.types import Linter
from gopipe_plugins._common.findings import parse_positions, relative, report
from gopipe_plugins._common.generated import GeneratedFiles
from gopipe_plugins.lint import driver

_HUNK = re.compile(r"^@@ -(\d+)")
_HOME = "https://pkg.go.dev/cmd/gofmt"
RULES = {
    "gofmt": driver.Rule("File is not formatted as gofmt formats it", _HOME),
    "syntax": driver.Rule("Go syntax error (gofmt cannot parse the file)", "https://go.dev/ref/spec"),
}


@dataclass(frozen=True)
class GofmtOptions:
    """gofmt settings."""

    simplify: bool = doc("also require gofmt -s simplifications", False)
    exclude: tuple[str, ...] = doc(
        "glob patterns of paths to skip", ("vendor/*", "*/testdata/*", "testdata/*")
    )


def run(ctx: ProviderContext[GofmtOptions]) -> None:
    gofmt = _gofmt(ctx)
    flags = ["-s"] if ctx.options.simplify else []
    listed = ctx.sh([gofmt, "-l", *flags, "."], echo=False)
    driver.record(ctx, driver.Driver("gofmt", ctx.go.version(), _HOME, RULES))
    if listed.returncode != 0 and not listed.stdout.strip():
        syntax = parse_positions(listed.stderr, "gofmt", "syntax", ctx.root)
        report(
            ctx,
            "gofmt",
            syntax or [Finding("gofmt", "syntax", ctx.clip(listed.stderr.strip(), 500))],
        )
        return
    generated = GeneratedFiles(ctx.root)  # no diff for a file nobody edits by hand
    files = [
        f
        for f in listed.stdout.splitlines()
        if f and not _excluded(f, ctx.options.exclude) and not generated(relative(f, ctx.root))
    ]
    findings = []
    for file in files:
        diff = ctx.sh([gofmt, "-d", *flags, file], echo=False).stdout
        shown = relative(file, ctx.root)
        ctx.log_block(f"gofmt -d {shown}", diff.rstrip("\n").splitlines())
        first, last = _changed_lines(diff)
        findings.append(
            Finding(
                "gofmt",
                "gofmt",
                f"file is not gofmt-ed; run gofmt -w {shlex.quote(shown)} (the diff is in the lint log)",
                file=shown,
                line=first,
                col=1,
                end_line=last,
            )
        )
    report(ctx, "gofmt", findings)


def _gofmt(ctx: ProviderContext[GofmtOptions]) -> str:
    go = ctx.go.go
    beside_go = Path(go).with_name("gofmt") if go else None
    found = str(beside_go) if beside_go and beside_go.exists() else shutil.which("gofmt")
    if not found:
        ctx.fail("gofmt not found next to go or on PATH")
    return found


def _excluded(path: str, patterns: tuple[str, ...]) -> bool:
    path = path.removeprefix("./")
    return any(fnmatch.fnmatch(path, p) for p in patterns)


def _changed_lines(diff: str) -> tuple[int, int]:
    """The first and last line of the original file that the first hunk changes."""
    lines: Iterator[str] = iter(diff.splitlines())
    for line in lines:
        m = _HUNK.match(line)
        if m:
            number, changed = int(m.group(1)), []
            for body in lines:
                if body.startswith("@@"):
                    break
                if body.startswith("-"):
                    changed.append(number)
                elif body.startswith("+"):
                    if not changed:  # a pure insertion: at the line it comes before
                        changed.append(number)
                    continue
                number += 1
            if changed:
                return max(min(changed), 1), max(max(changed), 1)
    return 1, 1


@hookimpl
def gopipe_linters() -> list[Linter[GofmtOptions]]:
    return [
        Linter(
            name="gofmt",
            run=run,
            options=GofmtOptions,
            description="gofmt -l: unformatted files fail with a diff",
        )
    ]
