"""Turn linter output into :class:`~gopipe.artifacts.Finding` records and a stage failure."""

from __future__ import annotations

import os
import re
from pathlib import Path

from gopipe.artifacts import Finding
from gopipe.context import ProviderContext
from gopipe.git import work_tree_root
from gopipe_plugins._common.generated import drop_generated

# "path/file.go:12:5: message" (column optional), as printed by gofmt, vet and the compiler.
POSITION = re.compile(r"^(?:vet: )?(?P<file>[^\s:][^:]*\.go):(?P<line>\d+)(?::(?P<col>\d+))?:\s*(?P<msg>.+)$")


def relative(path: str, root: Path) -> str:
    """``path`` (absolute, or relative to the Go module ``root``) relative to the top of the
    git repository, as GitHub annotations, SARIF and blob links name files: the module may
    sit in a subdirectory. Without git, relative to ``root``; outside both, unchanged."""
    module = root.resolve()
    p = Path(path)
    full = p.resolve() if p.is_absolute() else Path(os.path.normpath(module / p))
    for top in (work_tree_root(module), module):
        if top is not None and full.is_relative_to(top):
            return str(full.relative_to(top))
    return path


def parse_positions(text: str, tool: str, rule: str, root: Path) -> list[Finding]:
    found = []
    for line in text.splitlines():
        m = POSITION.match(line.strip())
        if m:
            found.append(
                Finding(
                    tool=tool,
                    rule=rule,
                    message=m["msg"].strip(),
                    file=relative(m["file"], root),
                    line=int(m["line"]),
                    col=int(m["col"]) if m["col"] else None,
                )
            )
    return found


def report(
    ctx: ProviderContext[object], tool: str, findings: list[Finding], *, skip_generated: bool = True
) -> None:
    """Record findings; fail the provider naming the first file if any is an error.

    Findings in generated files (``// Code generated … DO NOT EDIT.``) are dropped unless
    ``skip_generated`` is off (golangci-lint applies its own ``exclusions.generated``)."""
    if skip_generated:
        findings, dropped = drop_generated(ctx.root, findings)
        if dropped:
            ctx.log(f"skipped {dropped} finding{'s' * (dropped != 1)} in generated files")
    for finding in findings:
        ctx.add_finding(finding)
        ctx.log(f"{finding.location()}: {finding.rule}: {finding.message}")
    errors = [f for f in findings if f.level == "error" and not f.suppressed]
    ctx.summary = f"{tool}: {len(findings)} finding{'s' * (len(findings) != 1)}" if findings else ""
    if errors:
        first = errors[0]
        files = sorted({f.file for f in errors if f.file})
        ctx.fail(
            f"{len(errors)} {tool} finding{'s' * (len(errors) != 1)}, first at "
            f"{first.location()}: {first.message}" + (f" ({len(files)} files)" if len(files) > 1 else ""),
            file=first.file,
            line=first.line,
            details="\n".join(f"{f.location()}: {f.rule}: {f.message}" for f in errors[:50]),
        )
