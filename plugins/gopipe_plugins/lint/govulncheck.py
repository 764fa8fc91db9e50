"""govulncheck: known vulnerabilities in code the module calls, as findings; waivers expire.

Only a vulnerable symbol the code calls (govulncheck's symbol-level finding, a trace that
starts at a function) is an error. A vulnerable package that is imported but not called,
or a module that is only required, is a note: worth seeing, not worth a red build. A
waiver (:mod:`gopipe_plugins.lint.waivers`) marks a finding suppressed until its date;
an expired waiver fails the run naming it; a waiver that matches nothing is a warning.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

from gopipe import hookimpl
from gopipe.artifacts import Finding
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.gotools import TOOLS
from gopipe.types import Linter
from gopipe_plugins._common.clock import utc_today
from gopipe_plugins._common.findings import relative, report
from gopipe_plugins.lint import driver
from gopipe_plugins.lint.waivers import Verdict, Waiver, check_unique, judge

_HOME = "https://pkg.go.dev/golang.org/x/vuln/cmd/govulncheck"
TOOL = "govulncheck"
UNUSED_WAIVER = "unused-waiver"


@dataclass(frozen=True)
class GovulncheckOptions:
    """govulncheck settings. ``db`` points at a mirror or a file:// copy for offline runs."""

    version: str = doc("golang.org/x/vuln module version", TOOLS["govulncheck"].version)
    db: str = doc("vulnerability database URL (https:// or file://); empty = default", "")
    packages: tuple[str, ...] = doc("package patterns", ("./...",))
    waivers: tuple[Waiver, ...] = doc(
        "findings accepted until a date: [{ id, until = YYYY-MM-DD, reason }]", ()
    )
    # The UTC day the waivers were judged on. Part of the options' repr, so the stage
    # cache's fingerprint changes each day while waivers exist: a cached green lint cannot
    # outlive a waiver's expiry.
    judged_on: str = field(init=False, default="")

    def __post_init__(self) -> None:
        check_unique(self.waivers)
        if self.waivers:
            object.__setattr__(self, "judged_on", utc_today(os.environ).isoformat())


@dataclass
class _Vuln:
    """What one run says about one OSV entry."""

    summary: str = ""
    names: set[str] = field(default_factory=set)  # id and aliases, upper case
    called: list[Finding] = field(default_factory=list)
    reach: str = ""  # "imported" or "required" when nothing calls it
    module: str = ""


def run(ctx: ProviderContext[GovulncheckOptions]) -> None:
    exe = ctx.tool("govulncheck", ctx.options.version)
    db = ["-db", ctx.options.db] if ctx.options.db else []
    res = ctx.sh([exe, "-format", "json", *db, *ctx.options.packages], echo=False)
    vulns = _parse(res.stdout, ctx)
    findings = [f for v in vulns.values() for f in v.called]
    unique = list({(f.rule, f.file, f.line): f for f in findings}.values())
    unique += [_not_called(osv, v) for osv, v in sorted(vulns.items()) if not v.called and v.reach]
    rules = {
        osv: driver.Rule(vulns[osv].summary or osv, f"https://pkg.go.dev/vuln/{osv}", ("security",))
        for osv in sorted({f.rule for f in unique})
    }
    driver.record(ctx, driver.Driver(TOOL, ctx.options.version, _HOME, rules))
    if res.returncode != 0 and not findings:
        ctx.log(res.stderr)
        ctx.fail(
            f"govulncheck failed (exit {res.returncode}): " + ctx.clip(res.stderr.strip(), 300, tail=True)
        )
    today = utc_today(ctx.env)
    verdict = judge(ctx.options.waivers, {osv: v.names for osv, v in vulns.items()}, today)
    unique = [
        replace(f, suppressed=verdict.active[f.rule].justification()) if f.rule in verdict.active else f
        for f in unique
    ]
    unique += [_unused(w, ctx) for w in verdict.unused]
    if verdict.expired:
        _fail_expired(ctx, verdict, unique, today.isoformat())
    report(ctx, TOOL, unique)
    ctx.summary = _summary(unique, verdict)


def _parse(text: str, ctx: ProviderContext[GovulncheckOptions]) -> dict[str, _Vuln]:
    """govulncheck's JSON stream: ``osv`` entries, then ``finding`` objects at three levels."""
    vulns: dict[str, _Vuln] = {}
    decoder, pos = json.JSONDecoder(), 0
    while (start := text.find("{", pos)) >= 0:
        obj, pos = decoder.raw_decode(text, start)
        if "osv" in obj and isinstance(obj["osv"], Mapping):
            entry = obj["osv"]
            vuln = vulns.setdefault(str(entry["id"]), _Vuln())
            vuln.summary = str(entry.get("summary") or "")
            vuln.names |= {str(entry["id"]).upper(), *(str(a).upper() for a in entry.get("aliases") or ())}
        finding = obj.get("finding")
        if not finding or not finding.get("trace"):
            continue
        osv = str(finding["osv"])
        vuln = vulns.setdefault(osv, _Vuln(names={osv.upper()}))
        top = finding["trace"][0]
        vuln.module = vuln.module or str(top.get("module") or "")
        if top.get("function"):
            vuln.called.append(_called(osv, vuln, finding, ctx))
        elif top.get("package"):
            vuln.reach = "imported"
        elif not vuln.reach:
            vuln.reach = "required"
    return vulns


def _called(
    osv: str, vuln: _Vuln, finding: Mapping[str, Any], ctx: ProviderContext[GovulncheckOptions]
) -> Finding:
    frame = _frame_in_repo(finding["trace"], ctx) or finding["trace"][-1]
    p = frame.get("position", {})
    fixed = finding.get("fixed_version")
    return Finding(
        TOOL,
        osv,
        f"{vuln.summary or osv} in {frame.get('module')}" + (f" (fixed in {fixed})" if fixed else ""),
        file=relative(p["filename"], ctx.root) if p.get("filename") else None,
        line=p.get("line") or None,
        col=p.get("column") or None,
    )


def _not_called(osv: str, vuln: _Vuln) -> Finding:
    how = "imported but not called" if vuln.reach == "imported" else "required but not imported"
    return Finding(TOOL, osv, f"{vuln.summary or osv} in {vuln.module} ({how})", level="note")


def _unused(waiver: Waiver, ctx: ProviderContext[GovulncheckOptions]) -> Finding:
    """A warning at the waiver's line in the config, so it is found and removed."""
    file = ctx.config.file
    line = None
    try:
        text = file.read_text(encoding="utf-8")
    except OSError:
        text = ""
    for number, content in enumerate(text.splitlines(), 1):
        if waiver.id in content:
            line = number
            break
    return Finding(
        TOOL,
        UNUSED_WAIVER,
        f"waiver {waiver.id} (until {waiver.until}) matches no finding; remove it",
        file=relative(str(file), ctx.root) if text else None,
        line=line,
        level="warning",
    )


def _fail_expired(
    ctx: ProviderContext[GovulncheckOptions], verdict: Verdict, findings: list[Finding], today: str
) -> NoReturn:
    for finding in findings:
        ctx.add_finding(finding)
        ctx.log(f"{finding.location()}: {finding.rule}: {finding.message}")
    lines = [
        f"waiver {w.id} expired (until {w.until}, today {today}): "
        + (f"{osv} is still reported" if osv else "it matches no finding")
        + f"; reason was: {w.reason.strip()}"
        for w, osv in verdict.expired
    ]
    osv = verdict.expired[0][1]
    fix = "fix the vulnerability or renew the waiver" if osv else "remove the waiver"
    more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
    ctx.summary = f"{TOOL}: {len(lines)} expired waiver{'s' * (len(lines) != 1)}"
    ctx.fail(f"{lines[0]}; {fix}{more}", details="\n".join(lines))


def _summary(findings: list[Finding], verdict: Verdict) -> str:
    if not findings:
        return ""
    called = [f for f in findings if f.level == "error"]
    waived = sum(1 for f in called if f.suppressed)
    parts = [f"{len(called)} called" + (f" ({waived} waived)" if waived else "")]
    notes = sum(1 for f in findings if f.level == "note")
    if notes:
        parts.append(f"{notes} not called")
    if verdict.unused:
        parts.append(f"{len(verdict.unused)} unused waiver{'s' * (len(verdict.unused) != 1)}")
    return f"{TOOL}: " + ", ".join(parts)


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
            description="govulncheck: vulnerabilities in called code, with expiring waivers",
        )
    ]
