"""Console output: a live rich table on a terminal, plain lines elsewhere.

In GitHub Actions (or whenever stdout is not a TTY) output is plain: one group per stage
(``::group::``), ``::error`` annotations for findings and failed tests, and a Markdown
summary appended to ``$GITHUB_STEP_SUMMARY``. Every string passes the run's redactor.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import TextIO

from rich.console import Console as RichTerm
from rich.console import Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from gopipe.artifacts import Finding
from gopipe.report import Report, StageResult
from gopipe.secrets import Redactor

_ICONS = {"success": "✔", "failed": "✘", "skipped": "–", "cancelled": "■", "pending": "·"}
_STYLES = {
    "success": "green",
    "failed": "bold red",
    "skipped": "dim",
    "cancelled": "yellow",
    "running": "cyan",
    "pending": "dim",
}
_PANEL_LINES = 40


class Console:
    """Base: plain-line output. Subclassed by :class:`LiveConsole` for terminals."""

    def __init__(self, redactor: Redactor, stream: TextIO | None = None, github: bool = False) -> None:
        self.redact = redactor
        self.stream = stream or sys.stdout
        self.github = github
        self._lock = threading.Lock()
        self._last_progress: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------------
    def start(self, pipeline: str, stages: Sequence[str]) -> None:
        self.line(f"gopipe {pipeline}: {' → '.join(stages)}")

    def stage_started(self, stage: str) -> None:
        self.line(f"▶ {stage}")

    def stage_finished(self, result: StageResult, log: Sequence[str]) -> None:
        status = result.status + (" (cached)" if result.cached else "")
        head = f"{_ICONS.get(result.status, '?')} {result.name} {status} ({result.duration_s:.1f}s)" + (
            f" — {result.summary}" if result.summary else ""
        )
        with self._lock:
            if self.github and log:
                self._write(f"::group::{result.name} ({result.status})")
                for line in log:
                    self._write(line)
                self._write("::endgroup::")
            elif result.status == "failed" and log:
                for line in log[-_PANEL_LINES:]:
                    self._write(f"  {result.name} | {line}")
            self._write(head)
            if result.error:
                self._write(f"  {result.name}: {result.error}")

    def progress(self, stage: str, text: str) -> None:
        now = time.monotonic()
        if now - self._last_progress.get(stage, 0.0) >= 5.0:
            self._last_progress[stage] = now
            self.line(f"  {stage}: {text}")

    def annotate(self, finding: Finding) -> None:
        if not self.github:
            return
        props = [
            f"{k}={v}"
            for k, v in (
                ("file", finding.file),
                ("line", finding.line),
                ("col", finding.col),
                ("title", f"{finding.tool} {finding.rule}"),
            )
            if v is not None
        ]
        level = {"warning": "warning", "note": "notice"}.get(finding.level, "error")
        message = finding.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        self.line(f"::{level} {','.join(props)}::{message}")

    def error(self, text: str) -> None:
        with self._lock:
            self._write(f"error: {text}", stream=sys.stderr)

    def line(self, text: str) -> None:
        with self._lock:
            self._write(text)

    def finish(self, report: Report) -> None:
        with self._lock:
            self._write("")
            for stage in report.stages:
                status = stage.status + (" (cached)" if stage.cached else "")
                self._write(
                    f"{_ICONS.get(stage.status, '?')} {stage.name:<9} {status:<18} "
                    f"{stage.duration_s:7.1f}s  {stage.summary}"
                )
            self._write(f"gopipe {report.pipeline}: {report.status} in {report.duration_s:.1f}s")
        self.write_step_summary(report)

    # -- helpers -----------------------------------------------------------------------
    def _write(self, text: str, stream: TextIO | None = None) -> None:
        out = stream or self.stream
        out.write(self.redact(text) + "\n")
        out.flush()

    def write_step_summary(self, report: Report) -> None:
        path = os.environ.get("GITHUB_STEP_SUMMARY")
        if not path:
            return
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(self.redact(markdown_summary(report)) + "\n")


class LiveConsole(Console):
    """A live table of stages with spinners, progress and durations, for terminals."""

    def __init__(self, redactor: Redactor, term: RichTerm | None = None) -> None:
        super().__init__(redactor)
        self.term = term or RichTerm(highlight=False)
        self._rows: dict[str, dict[str, object]] = {}
        self._live: Live | None = None

    def start(self, pipeline: str, stages: Sequence[str]) -> None:
        self._pipeline = pipeline
        self._rows = {
            s: {"status": "pending", "started": None, "duration": None, "detail": ""} for s in stages
        }
        self._live = Live(
            get_renderable=self._render,
            console=self.term,
            refresh_per_second=8,
            transient=False,
            redirect_stdout=False,
        )
        self._live.start()

    def stage_started(self, stage: str) -> None:
        row = self._rows.setdefault(stage, {"detail": ""})
        row.update(status="running", started=time.monotonic())

    def stage_finished(self, result: StageResult, log: Sequence[str]) -> None:
        row = self._rows.setdefault(result.name, {})
        row.update(
            status=result.status + (" (cached)" if result.cached else ""),
            duration=result.duration_s,
            detail=result.summary or (result.error or "").split("\n", 1)[0],
        )

    def progress(self, stage: str, text: str) -> None:
        if stage in self._rows:
            self._rows[stage]["detail"] = text

    def line(self, text: str) -> None:
        self.term.print(escape(self.redact(text)))

    def error(self, text: str) -> None:
        self.term.print(f"[bold red]error:[/] {escape(self.redact(text))}")

    def finish(self, report: Report) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        for stage in report.stages:
            if stage.status != "failed":
                continue
            body = [stage.error or "failed"]
            for p in stage.providers:
                if p.status == "failed" and p.details:
                    body.append("")
                    body.append(f"[{p.name}]")
                    body.extend(p.details.splitlines()[-_PANEL_LINES:])
            self.term.print(
                Panel(
                    Text(self.redact("\n".join(body))),
                    title=f"[bold red]{stage.name} failed",
                    border_style="red",
                )
            )
        style = _STYLES.get(report.status, "")
        self.term.print(f"[{style}]gopipe {report.pipeline}: {report.status}[/] in {report.duration_s:.1f}s")
        self.write_step_summary(report)

    def _render(self) -> RenderableType:
        table = Table(box=None, pad_edge=False, show_header=False)
        table.add_column(width=2)
        table.add_column(min_width=9)
        table.add_column(min_width=9)
        table.add_column(justify="right", min_width=7)
        table.add_column(overflow="ellipsis", no_wrap=True)
        now = time.monotonic()
        for name, row in self._rows.items():
            status = str(row.get("status", "pending"))
            icon: RenderableType
            if status == "running":
                icon = Spinner("dots", style="cyan")
                started = row.get("started")
                duration = now - started if isinstance(started, float) else 0.0
            else:
                icon = Text(_ICONS.get(status, "?"), style=_STYLES.get(status, ""))
                d = row.get("duration")
                duration = d if isinstance(d, float) else 0.0
            shown = f"{duration:.1f}s" if status not in ("pending", "skipped") else ""
            table.add_row(
                icon,
                Text(name, style="bold"),
                Text(status, style=_STYLES.get(status, "")),
                shown,
                Text(self.redact(str(row.get("detail") or "")), style="dim"),
            )
        return Group(Text(f"gopipe {self._pipeline}", style="bold"), table)


def make_console(redactor: Redactor, *, plain: bool | None = None) -> Console:
    """Live console on a TTY; plain lines in CI, when piped, or when asked."""
    github = os.environ.get("GITHUB_ACTIONS") == "true"
    if plain is None:
        plain = github or not sys.stdout.isatty() or os.environ.get("TERM") == "dumb"
    return Console(redactor, github=github) if plain else LiveConsole(redactor)


def markdown_summary(report: Report) -> str:
    icon = {"success": "✅", "failed": "❌", "cancelled": "⏹"}.get(report.status, "")
    lines = [
        f"### {icon} gopipe {report.pipeline}: {report.status}",
        "",
        f"`{report.git.short_sha}` on `{report.git.branch or report.git.tag or 'detached'}`"
        f" · version `{report.git.version}` · {report.duration_s:.1f}s",
        "",
        "| stage | status | duration | summary |",
        "|---|---|---:|---|",
    ]
    for s in report.stages:
        note = (s.summary or s.error or "").split("\n", 1)[0].replace("|", "\\|")
        lines.append(f"| {s.name} | {_ICONS.get(s.status, '')} {s.status} | {s.duration_s:.1f}s | {note} |")
    if report.error:
        lines += ["", f"**error:** {report.error}"]
    return "\n".join(lines) + "\n"
