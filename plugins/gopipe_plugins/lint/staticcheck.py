"""staticcheck, installed at a pinned version on first use; JSON output."""

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
class StaticcheckOptions:
    """staticcheck settings."""

    version: str = doc("staticcheck module version", TOOLS["staticcheck"].version)
    checks: str = doc("-checks value; empty uses staticcheck.conf or the defaults", "")
    packages: tuple[str, ...] = doc("package patterns", ("./...",))


def run(ctx: ProviderContext[StaticcheckOptions]) -> None:
    exe = ctx.tool("staticcheck", ctx.options.version)
    checks = ["-checks", ctx.options.checks] if ctx.options.checks else []
    res = ctx.sh([exe, "-f", "json", *checks, *ctx.options.packages], echo=False)
    findings = []
    for line in res.stdout.splitlines():
        if not line.startswith("{"):
            continue
        d = json.loads(line)
        loc = d.get("location", {})
        level = {"error": "error", "warning": "warning"}.get(d.get("severity", "error"), "note")
        findings.append(
            Finding(
                "staticcheck",
                d.get("code", "staticcheck"),
                d.get("message", ""),
                file=relative(loc["file"], ctx.root) if loc.get("file") else None,
                line=loc.get("line") or None,
                col=loc.get("column") or None,
                level=level,
            )
        )
    if res.returncode not in (0, 1) or (res.returncode == 1 and not findings):
        ctx.log(res.stderr)
        ctx.fail(
            f"staticcheck failed (exit {res.returncode}): " + ctx.clip(res.stderr.strip(), 300, tail=True)
        )
    report(ctx, "staticcheck", findings)


@hookimpl
def gopipe_linters() -> list[Linter[StaticcheckOptions]]:
    return [
        Linter(
            name="staticcheck",
            run=run,
            options=StaticcheckOptions,
            description="staticcheck (pinned, installed on first use)",
        )
    ]
