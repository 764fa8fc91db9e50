"""The run's summary for ``$GITHUB_STEP_SUMMARY``: what a reviewer needs on the run's page.

The status; the stages (cached ones marked); the failing tests with their first lines; the
top findings, linked to the file and line at the commit (waived ones last, with their waiver);
coverage (the total and the lowest packages); images, deployments and a link to the run's
artifacts. GitHub takes at most 1 MiB per step, so each section is cut to fit, and says so.
Every text is masked before it is cut.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from gopipe.artifacts import Artifact, Finding
from gopipe.report import Report
from gopipe.secrets import Redactor

LIMIT = 1024 * 1024  # bytes GitHub accepts per step
_MARGIN = 1024
_ROWS = 20  # findings or failing tests per section
_FIRST_LINES = 6  # of a failing test's message
_LOW_PACKAGES = 10
_CELL = 300  # characters of one cell or line
_ICONS = {"success": "✔", "failed": "✘", "skipped": "–", "cancelled": "■"}
_RUN_ICONS = {"success": "✅", "failed": "❌", "cancelled": "⏹"}
_LEVEL_ORDER = {"error": 0, "warning": 1, "note": 2}
_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|~&"})


@dataclass
class _Section:
    """A heading and rows; rows are dropped from the end (with a note) when over budget."""

    head: list[str]
    rows: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)
    more: int = 0  # rows left out before rendering (the per-section cap)
    what: str = "rows"


def step_summary(
    report: Report,
    findings: Mapping[str, Sequence[Finding]],
    environ: Mapping[str, str],
    redactor: Redactor,
    budget: int = LIMIT,
) -> str:
    """The Markdown for one run, at most ``budget`` bytes (UTF-8)."""
    writer = _Writer(report, environ, redactor)
    sections = [
        writer.header(),
        writer.stages(),
        *writer.findings(findings),
        writer.coverage(),
        writer.images(),
        writer.deployments(),
        writer.artifacts_link(),
    ]
    return _fit([s for s in sections if s is not None], max(budget - _MARGIN, 0))


class _Writer:
    def __init__(self, report: Report, environ: Mapping[str, str], redactor: Redactor) -> None:
        self.report = report
        self.environ = environ
        self.redactor = redactor
        sha = report.git.sha if report.git.sha not in ("", "none") else environ.get("GITHUB_SHA", "")
        server, repo = environ.get("GITHUB_SERVER_URL", ""), environ.get("GITHUB_REPOSITORY", "")
        self.blob = f"{server.rstrip('/')}/{repo}/blob/{sha}/" if server and repo and sha else None

    # -- text ----------------------------------------------------------------------------
    def text(self, value: object, limit: int = _CELL) -> str:
        """Masked, cut, on one line, with Markdown's special characters escaped."""
        clipped = self.redactor.clip(str(value), limit * 4)
        line = " ".join(clipped.split())
        if len(line) > limit:
            line = line[: limit - 1] + "…"
        return line.translate(_MARKDOWN)

    def location(self, finding: Finding) -> str:
        """``file:line``, linked to the file at the commit when the run is on GitHub."""
        if not finding.file:
            return ""
        shown = self.text(finding.location())
        path = PurePosixPath(finding.file)
        if self.blob is None or path.is_absolute() or ".." in path.parts:
            return shown
        anchor = f"#L{finding.line}" if finding.line else ""
        url = self.redactor(self.blob + quote(finding.file) + anchor)
        return f"[{shown}]({url})"

    # -- sections --------------------------------------------------------------------------
    def header(self) -> _Section:
        r, git = self.report, self.report.git
        head = [
            f"### {_RUN_ICONS.get(r.status, '')} gopipe {self.text(r.pipeline)}: {r.status}",
            "",
            f"`{self.text(git.short_sha)}` on `{self.text(git.branch or git.tag or 'detached')}`"
            f" · version `{self.text(git.version)}` · {r.duration_s:.1f}s",
        ]
        if r.error:
            head += ["", f"**error:** {self.text(r.error, 1000)}"]
        return _Section(head)

    def stages(self) -> _Section:
        rows = []
        for s in self.report.stages:
            status = f"{_ICONS.get(s.status, '')} {s.label}" + (" (cached)" if s.cached else "")
            duration = "—" if s.cached else f"{s.duration_s:.1f}s"
            note = self.text((s.summary or s.error or "").split("\n", 1)[0])
            rows.append(f"| {s.name} | {status} | {duration} | {note} |")
        head = ["", "| stage | status | duration | summary |", "|---|---|---:|---|"]
        return _Section(head, rows, what="stages")

    def findings(self, by_stage: Mapping[str, Sequence[Finding]]) -> list[_Section]:
        order = ["test", *(s.name for s in self.report.stages if s.name != "test")]  # failing tests first
        stages = sorted(by_stage, key=lambda s: order.index(s) if s in order else len(order))
        sections = []
        for stage in stages:
            found = sorted(
                by_stage[stage], key=lambda f: (f.suppressed is not None, _LEVEL_ORDER.get(f.level, 0))
            )
            if not found:
                continue
            if stage == "test":
                sections.append(self.failed_tests(found))
            else:
                sections.append(self.finding_table(stage, found))
        return sections

    def failed_tests(self, found: Sequence[Finding]) -> _Section:
        rows = []
        for f in found[:_ROWS]:
            where = self.location(f)
            lines = self.redactor(f.message).split("\n")
            first = [_clip(line) for line in lines[:_FIRST_LINES]]
            if len(lines) > _FIRST_LINES:
                first.append(f"… {len(lines) - _FIRST_LINES} more lines")
            fence = _fence(first)
            rows.append(
                "\n".join(
                    [
                        f"- **{self.text(f.heading())}**" + (f" at {where}" if where else ""),
                        f"  {fence}text",
                        *(f"  {line}" for line in first),
                        f"  {fence}",
                    ]
                )
            )
        n = len(found)
        head = ["", f"#### Test failures ({n})", ""]
        return _Section(head, rows, more=max(n - _ROWS, 0), what="test failures")

    def finding_table(self, stage: str, found: Sequence[Finding]) -> _Section:
        rows = [
            f"| {'waived' if f.suppressed else f.level} | {self.location(f)} | {self.text(f.heading())} | "
            f"{self.text(f.message.split(chr(10), 1)[0] + (f' ({f.suppressed})' if f.suppressed else ''))} |"
            for f in found[:_ROWS]
        ]
        n = len(found)
        name = "Lint findings" if stage == "lint" else f"Findings in {stage}"
        head = ["", f"#### {name} ({n})", "", "| level | where | what | message |", "|---|---|---|---|"]
        return _Section(head, rows, more=max(n - _ROWS, 0), what="findings")

    def coverage(self) -> _Section | None:
        found = _last(self.report.artifacts, "coverage-summary")
        if found is None or "percent" not in found.extra:
            return None
        extra = found.extra
        packages: dict[str, Any] = dict(extra.get("packages") or {})
        lowest = sorted(packages.items(), key=lambda kv: (float(kv[1]), kv[0]))[:_LOW_PACKAGES]
        counted = (
            f" ({extra['covered']}/{extra['statements']} statements)"
            if "covered" in extra and "statements" in extra
            else ""
        )
        shown = "lowest packages" if len(packages) > len(lowest) else "packages"
        head = [
            "",
            f"#### Coverage: {float(extra['percent']):.1f}%{counted}",
            "",
            f"| {shown} | coverage |",
            "|---|---:|",
            f"| **total** | **{float(extra['percent']):.1f}%** |",
        ]
        rows = [f"| {self.text(name)} | {float(pct):.1f}% |" for name, pct in lowest]
        tail = ["", f"{len(packages)} packages; all of them are in coverage.md."]
        return _Section(head, rows, tail=tail if len(packages) > len(lowest) else [], what="packages")

    def images(self) -> _Section | None:
        pushed = [a for a in self.report.artifacts if a.kind == "image-ref"]
        rows = [
            f"| {self.text(a.name)} | {self.text(a.extra.get('reference') or a.extra.get('digest', ''))} | "
            f"{self.text(', '.join(str(t) for t in a.extra.get('tags') or []))} |"
            for a in pushed
        ]
        if not rows:
            for a in self.report.artifacts:
                if a.kind != "image":
                    continue
                digest = a.extra.get("index_digest") or a.extra.get("digest") or a.extra.get("image_id")
                where = "/".join(str(p) for p in (a.os, a.arch) if p) or self.text(
                    ", ".join(sorted(a.extra.get("platforms") or []))
                )
                rows.append(f"| {self.text(a.name)} | {self.text(digest or '')} | {where} |")
            head_cols = "| image | digest | platforms |"
        else:
            head_cols = "| image | reference | tags |"
        if not rows:
            return None
        return _Section(["", "#### Images", "", head_cols, "|---|---|---|"], rows, what="images")

    def deployments(self) -> _Section | None:
        rows = [
            f"| {self.text(a.extra.get('environment', a.name))} | {self.text(a.extra.get('outcome', ''))} | "
            f"{self.text(a.extra.get('namespace', ''))} | {self.text(a.extra.get('revision', ''))} | "
            f"{self.text(a.extra.get('reason', ''))} |"
            for a in self.report.artifacts
            if a.kind == "deployment"
        ]
        if not rows:
            return None
        head = ["", "#### Deployments", "", "| environment | outcome | namespace | revision | reason |"]
        return _Section([*head, "|---|---|---|---|---|"], rows, what="deployments")

    def artifacts_link(self) -> _Section | None:
        if not self.report.ci_url:
            return None
        url = self.redactor(self.report.ci_url)
        return _Section(["", f"[Artifacts of this run]({url}#artifacts): reports, logs, coverage."])


def _fit(sections: Sequence[_Section], budget: int) -> str:
    """Join the sections; rows that do not fit are dropped with a note, then whole sections."""
    out: list[str] = []
    used = 0
    for i, section in enumerate(sections):
        note = _too_big(0, section.what)
        if used + _size(section.head) + _size([note]) > budget:
            left = f"_… {len(sections) - i} more sections left out: the step summary is limited to 1 MiB._"
            if used + _size([left]) <= budget:
                out.append(left)
            break
        out += section.head
        used += _size(section.head)
        kept = 0
        for row in section.rows:
            noted = kept + 1 < len(section.rows) or section.more > 0
            reserve = _size(section.tail) + (_size([note]) if noted else 0)
            if used + _size([row]) + reserve > budget:
                break
            out.append(row)
            used += _size([row])
            kept += 1
        dropped = len(section.rows) - kept
        extra = []
        if dropped:
            extra = [_too_big(dropped + section.more, section.what)]
        elif section.more:
            extra = [f"_… and {section.more} more {section.what}._"]
        if used + _size(extra) + _size(section.tail) <= budget:
            extra += section.tail
        out += extra
        used += _size(extra)
    return "\n".join(out) + "\n"


def _too_big(count: int, what: str) -> str:
    return f"_… {count} more {what} not shown: the step summary is limited to 1 MiB._"


def _size(lines: Sequence[str]) -> int:
    return sum(len(line.encode()) + 1 for line in lines)


def _last(artifacts: Sequence[Artifact], kind: str) -> Artifact | None:
    return next((a for a in reversed(artifacts) if a.kind == kind), None)


def _clip(line: str) -> str:
    return line if len(line) <= _CELL else line[: _CELL - 1] + "…"


def _fence(lines: Sequence[str]) -> str:
    """A code fence longer than any run of backticks in ``lines``, so none can close it."""
    runs = [len(run) for run in re.findall(r"`+", "\n".join(lines))]
    return "`" * max(3, max(runs, default=0) + 1)
