"""govulncheck: known vulnerabilities reachable from the code, as findings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gopipe import hookimpl
from gopipe.artifacts import Finding
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.gotools import TOOLS
from gopipe.types import Linter
from gopipe_plugins._common.findings import relative, report
from gopipe_plugins.lint import driver

_HOME = "https://pkg.go.dev/golang.org/x/vuln/cmd/govulncheck"


@dataclass(frozen=True)
class GovulncheckOptions:
    """govulncheck settings. ``db`` points at a mirror or a file:// copy for offline runs."""

    version: str = doc("golang.org/x/vuln module version", TOOLS["govulncheck"].version)
    db: str = doc("vulnerability database URL (https:// or file://); empty = default", "")
    packages: tuple[str, ...] = doc("package patterns", ("./...",))


def run(ctx: ProviderContext[GovulncheckOptions]) -> None:
    exe = ctx.tool("govulncheck", ctx.options.version)
    db = ["-db", ctx.options.db] if ctx.options.db else []
    res = ctx.sh([exe, "-format", "json", *db, *ctx.options.packages], echo=False)
    findings: list[Finding] = []
    summaries: dict[str, str] = {}
    decoder, text, pos = json.JSONDecoder(), res.stdout, 0
    while (start := text.find("{", pos)) >= 0:
        obj, pos = decoder.raw_decode(text, start)
        if "osv" in obj:
            summaries[obj["osv"]["id"]] = obj["osv"].get("summary", "")
        finding = obj.get("finding")
        if finding and finding.get("trace") and finding["trace"][0].get("function"):
            frame = _frame_in_repo(finding["trace"], ctx) or finding["trace"][-1]
            p = frame.get("position", {})
            vuln = finding["osv"]
            fixed = finding.get("fixed_version")
            findings.append(
                Finding(
                    "govulncheck",
                    vuln,
                    f"{summaries.get(vuln, vuln)} in {frame.get('module')}"
                    + (f" (fixed in {fixed})" if fixed else ""),
                    file=relative(p["filename"], ctx.root) if p.get("filename") else None,
                    line=p.get("line") or None,
                    col=p.get("column") or None,
                )
            )
    unique = {(f.rule, f.file, f.line): f for f in findings}
    rules = {
        vuln: driver.Rule(summaries.get(vuln) or vuln, f"https://pkg.go.dev/vuln/{vuln}", ("security",))
        for vuln in sorted({f.rule for f in unique.values()})
    }
    driver.record(ctx, driver.Driver("govulncheck", ctx.options.version, _HOME, rules))
    if res.returncode != 0 and not findings:
        ctx.log(res.stderr)
        ctx.fail(
            f"govulncheck failed (exit {res.returncode}): " + ctx.clip(res.stderr.strip(), 300, tail=True)
        )
    report(ctx, "govulncheck", list(unique.values()))


def _frame_in_repo(
    trace: list[dict[str, Any]], ctx: ProviderContext[GovulncheckOptions]
) -> dict[str, Any] | None:
    """The call site in the user's code: trace[0] is the vulnerable symbol, the end the entry."""
    for frame in trace:
        name = frame.get("position", {}).get("filename")
        if name and (ctx.root / relative(name, ctx.root)).is_file():
            return frame
    return None


@hookimpl
def gopipe_linters() -> list[Linter[GovulncheckOptions]]:
    return [
        Linter(
            name="govulncheck",
            run=run,
            options=GovulncheckOptions,
            description="govulncheck: reachable known vulnerabilities",
        )
    ]
