"""golangci-lint v2, pinned and installed on first use; JSON output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gopipe import hookimpl
from gopipe.artifacts import Finding
from gopipe.config import doc
from gopipe.config.repo_linters import golangci_config, refused_golangci_configs
from gopipe.context import ProviderContext
from gopipe.gotools import TOOLS
from gopipe.types import Linter
from gopipe_plugins._common.findings import relative, report
from gopipe_plugins.lint import driver

_HOME = "https://golangci-lint.run"
# golangci-lint passes through the severity its config assigns (``severity:`` rules); the
# names differ between linters, so the usual ones are mapped and the rest count as errors.
_LEVELS = {
    "error": "error",
    "high": "error",
    "critical": "error",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "info": "note",
    "low": "note",
    "note": "note",
    "hint": "note",
}


@dataclass(frozen=True)
class GolangciOptions:
    """golangci-lint settings; the repository's .golangci.yml applies as usual."""

    version: str = doc("golangci-lint module version (v2)", TOOLS["golangci-lint"].version)
    config: str = doc(
        "config file, relative to the repository; default: .golangci.yml/.yaml/.toml/.json "
        "at the module root, else at the git repository's top",
        "",
    )
    args: tuple[str, ...] = doc("extra arguments, e.g. ['--enable-only=errcheck']", ())
    packages: tuple[str, ...] = doc("package patterns", ("./...",))


def config_file(ctx: ProviderContext[GolangciOptions]) -> Path | None:
    """The configured file (checked to stay in the repository), else the repository's own."""
    if ctx.options.config:
        return ctx.repo_path(ctx.options.config, "config")
    return golangci_config(ctx.root)


def run(ctx: ProviderContext[GolangciOptions]) -> None:
    exe = ctx.tool("golangci-lint", ctx.options.version)
    config = config_file(ctx)
    for refused in refused_golangci_configs(ctx.root):
        ctx.log(
            f"warning: {relative(str(refused), ctx.root)} not used: it leaves the repository or is no file"
        )
    if config is not None:
        ctx.log(f"golangci-lint config: {relative(str(config), ctx.root)}")
    # never golangci-lint's own search, which follows links out and reaches the home directory
    res = ctx.sh(
        [
            exe,
            "run",
            f"--config={config}" if config is not None else "--no-config",
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
        driver.record(ctx, driver.Driver("golangci-lint", ctx.options.version, _HOME))
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
        level = _LEVELS.get(str(issue.get("Severity") or "error").lower(), "error")
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
    driver.record(ctx, driver.Driver("golangci-lint", ctx.options.version, _HOME, _rules(ctx, exe, findings)))
    if res.returncode not in (0, 1) and not findings:
        ctx.log(res.stderr)
        ctx.fail(
            f"golangci-lint failed (exit {res.returncode}): " + ctx.clip(res.stderr.strip(), 300, tail=True)
        )
    report(ctx, "golangci-lint", findings, skip_generated=False)  # its own exclusions.generated


def _rules(
    ctx: ProviderContext[GolangciOptions], exe: Path, findings: list[Finding]
) -> dict[str, driver.Rule]:
    """A descriptor per linter that reported (the rule is the linter), from ``help linters``."""
    names = {f.rule for f in findings}
    if not names:
        return {}
    listing = ctx.sh([exe, "help", "linters", "--json"], echo=False).stdout
    try:
        known = {str(d.get("name")): d for d in json.loads(listing[listing.find("[") :])}
    except (ValueError, AttributeError):
        known = {}
    rules = {}
    for name in names:
        info = known.get(name, {})
        uri = info.get("originalURL")
        rules[name] = driver.Rule(
            str(info.get("description") or f"golangci-lint linter {name}").strip(),
            str(uri) if uri else f"{_HOME}/docs/linters/",
        )
    return rules


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
