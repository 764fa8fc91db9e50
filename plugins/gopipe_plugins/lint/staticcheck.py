"""staticcheck, installed at a pinned version on first use; JSON output."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from gopipe import hookimpl
from gopipe.artifacts import Finding
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.gotools import TOOLS
from gopipe.types import Linter
from gopipe_plugins._common.findings import relative, report
from gopipe_plugins.lint import driver

_HOME = "https://staticcheck.dev"
_CHECK = re.compile(r"^(?P<code>[A-Z]+\d+)\s+(?P<title>\S.*)$")


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
    driver.record(ctx, driver.Driver("staticcheck", ctx.options.version, _HOME, _rules(ctx, exe, findings)))
    if res.returncode not in (0, 1) or (res.returncode == 1 and not findings):
        ctx.log(res.stderr)
        ctx.fail(
            f"staticcheck failed (exit {res.returncode}): " + ctx.clip(res.stderr.strip(), 300, tail=True)
        )
    report(ctx, "staticcheck", findings)


def _rules(
    ctx: ProviderContext[StaticcheckOptions], exe: Path, findings: list[Finding]
) -> dict[str, driver.Rule]:
    """Descriptors for the checks that reported, titled by ``staticcheck -list-checks``."""
    codes = {f.rule for f in findings}
    if not codes:
        return {}
    listing = ctx.sh([exe, "-list-checks"], echo=False).stdout
    titles = {m["code"]: m["title"].strip() for m in map(_CHECK.match, listing.splitlines()) if m}
    return {
        code: driver.Rule(titles[code], f"{_HOME}/docs/checks/#{code}")
        if code in titles
        else driver.Rule(f"staticcheck {code}")
        for code in codes
    }


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
