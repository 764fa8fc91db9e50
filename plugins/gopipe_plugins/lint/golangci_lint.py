"""golangci-lint v2, pinned and installed on first use; JSON output."""

from __future__ import annotations

import json
from dataclasses import dataclass

from gopipe import hookimpl
from gopipe.artifacts import Finding
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.gotools import TOOLS
from gopipe.types import Linter
from gopipe_plugins._common.findings import relative, report


@dataclass(frozen=True)
class GolangciOptions:
    """golangci-lint settings; the repo's .golangci.yml applies as usual."""

    version: str = doc("golangci-lint module version (v2)", TOOLS["golangci-lint"].version)
    args: tuple[str, ...] = doc("extra arguments, e.g. ['--enable-only=errcheck']", ())
    packages: tuple[str, ...] = doc("package patterns", ("./...",))


def run(ctx: ProviderContext[GolangciOptions]) -> None:
    exe = ctx.tool("golangci-lint", ctx.options.version)
    res = ctx.sh(
        [
            exe,
            "run",
            "--output.json.path=stdout",
            "--output.text.path=stderr",
            "--show-stats=false",
            *ctx.options.args,
            *ctx.options.packages,
        ],
        echo=False,
    )
    start = res.stdout.find("{")
    if start < 0:
        ctx.log(res.output)
        if res.returncode == 0:
            return
        ctx.fail(
            f"golangci-lint failed (exit {res.returncode}): " + ctx.clip(res.stderr.strip(), 300, tail=True)
        )
    data = json.JSONDecoder().raw_decode(res.stdout, start)[0]
    findings = []
    for issue in data.get("Issues") or []:
        pos = issue.get("Pos", {})
        level = "warning" if issue.get("Severity") == "warning" else "error"
        findings.append(
            Finding(
                "golangci-lint",
                issue.get("FromLinter", "golangci-lint"),
                issue.get("Text", ""),
                file=relative(pos.get("Filename", ""), ctx.root),
                line=pos.get("Line") or None,
                col=pos.get("Column") or None,
                level=level,
            )
        )
    if res.returncode not in (0, 1) and not findings:
        ctx.log(res.stderr)
        ctx.fail(
            f"golangci-lint failed (exit {res.returncode}): " + ctx.clip(res.stderr.strip(), 300, tail=True)
        )
    report(ctx, "golangci-lint", findings)


@hookimpl
def gopipe_linters() -> list[Linter[GolangciOptions]]:
    return [
        Linter(
            name="golangci-lint",
            run=run,
            options=GolangciOptions,
            description="golangci-lint v2 (pinned, installed on first use)",
        )
    ]
