"""Console output: a live rich table on a terminal, plain lines elsewhere.

In GitHub Actions output is plain lines with workflow commands. Each stage's log is one
collapsed ``::group::``; each block of it (a failing test's output, compiler output, a
diff) follows in a group of its own, cut to its last lines with a pointer to the log file.
GitHub cannot nest groups, and one group per failing test, titled with its name, is what
a reader scans for. Then the stage's annotations (``::error`` / ``::warning`` /
``::notice``), outside any group so they show without expanding anything, and a Markdown
summary appended to ``$GITHUB_STEP_SUMMARY`` at the end (:mod:`gopipe.summary`).

Output the run did not write (a test printing ``::error::`` or ``::endgroup::``) is wrapped
in ``::stop-commands::`` so GitHub does not act on it. Every string passes the run's
redactor; values are masked before they are escaped, so an escaped secret still matches.
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TextIO

from gopipe.artifacts import Finding
from gopipe.report import Report, StageResult
from gopipe.secrets import Redactor
from gopipe.stagelog import LogBlock
from gopipe.summary import LIMIT, step_summary

if TYPE_CHECKING:  # rich is imported by LiveConsole only: plain output (CI, pipes) never needs it
    from rich.console import Console as RichTerm
    from rich.console import RenderableType
    from rich.live import Live

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
_BLOCK_LINES = 50  # of a block (a failing test's output), in CI and in plain output
_GROUP_LINES = 400  # of a stage's log in its CI group
_LEVELS = {"warning": "warning", "note": "notice"}  # finding level -> workflow command


def escape_data(text: str) -> str:
    """A workflow command's message, as the Actions toolkit escapes it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: the message escapes plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, properties: Mapping[str, object | None], message: str) -> str:
    """``::command k=v,k=v::message``, escaped; properties that are None are left out."""
    props = ",".join(f"{k}={escape_property(str(v))}" for k, v in properties.items() if v is not None)
    return f"::{command}{' ' + props if props else ''}::{escape_data(message)}"


def annotation(finding: Finding, redact: Redactor) -> str:
    """The ``::error`` (``::warning``, ``::notice``) line for a finding, masked then escaped."""
    file = redact(finding.file) if finding.file else None
    props = {
        "file": file,
        "line": finding.line if file else None,
        "col": finding.col if file and finding.line else None,
        "endLine": finding.end_line if file and finding.line else None,
        "title": redact(finding.heading()),
    }
    level = "note" if finding.suppressed else finding.level  # a waived finding is a notice
    message = finding.message + (f" ({finding.suppressed})" if finding.suppressed else "")
    return workflow_command(_LEVELS.get(level, "error"), props, redact(message))


def _acts_on(line: str) -> bool:
    """Whether GitHub's runner would read ``line`` as a command (``::x::`` or the old ``##[x]``)."""
    return line.lstrip().startswith("::") or "##[" in line


def github_group(title: str, lines: Sequence[str], limit: int, log_file: str | None) -> list[str]:
    """A collapsed group holding the last ``limit`` lines; commands in them are not run."""
    shown = list(lines[-limit:])
    if len(lines) > len(shown):
        where = f"; all {len(lines)} are in {log_file}" if log_file else ""
        shown.insert(0, f"… {len(lines) - len(shown)} earlier lines not shown{where}")
    if any(_acts_on(line) for line in shown):
        token = secrets.token_hex(16)
        shown = [f"::stop-commands::{token}", *shown, f"::{token}::"]
    return [f"::group::{escape_data(title)}", *shown, "::endgroup::"]


class Console:
    """Base: plain-line output. Subclassed by :class:`LiveConsole` for terminals."""

    def __init__(
        self,
        redactor: Redactor,
        stream: TextIO | None = None,
        github: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.redact = redactor
        self.stream = stream or sys.stdout
        self.github = github
        self.environ = dict(os.environ if environ is None else environ)
        self._lock = threading.Lock()
        self._last_progress: dict[str, float] = {}
        self._held: dict[str, list[Finding]] = {}  # per stage, annotated after its output

    # -- lifecycle -------------------------------------------------------------------
    def start(self, pipeline: str, stages: Sequence[str]) -> None:
        self.line(f"gopipe {pipeline}: {' → '.join(stages)}")

    def stage_started(self, stage: str) -> None:
        self.line(f"▶ {stage}")

    def stage_finished(
        self,
        result: StageResult,
        log: Sequence[str],
        blocks: Sequence[LogBlock] = (),
        log_file: str | None = None,
    ) -> None:
        """A stage's output, once it is over: stages run at once, so none is interleaved."""
        status = result.label + (" (cached)" if result.cached else "")
        icon = _ICONS.get(result.status, "?")
        out = []
        with self._lock:
            if self.github:
                if log:
                    shown = result.label + (", cached" if result.cached else "")
                    out += github_group(f"{result.name} ({shown})", log, _GROUP_LINES, log_file)
                for block in blocks:
                    out += github_group(
                        f"{icon} {result.name}: {block.title}", block.lines, _BLOCK_LINES, log_file
                    )
                out += [annotation(f, self.redact) for f in self._held.pop(result.name, [])]
            elif result.status == "failed":
                out += [f"  {result.name} | {line}" for line in log[-_PANEL_LINES:]]
                for block in blocks:
                    out.append(f"  {result.name} | ── {block.title}")
                    if len(block.lines) > _BLOCK_LINES:
                        left = len(block.lines) - _BLOCK_LINES
                        out.append(
                            f"  {result.name} | … {left} earlier lines in {log_file or 'the stage log'}"
                        )
                    out += [f"  {result.name} | {line}" for line in block.lines[-_BLOCK_LINES:]]
            out.append(
                f"{icon} {result.name} {status} ({result.duration_s:.1f}s)"
                + (f" — {result.summary}" if result.summary else "")
            )
            if result.error:
                out.append(f"  {result.name}: {result.error}")
            self._write_lines(out)

    def progress(self, stage: str, text: str) -> None:
        now = time.monotonic()
        if now - self._last_progress.get(stage, 0.0) >= 5.0:
            self._last_progress[stage] = now
            self.line(f"  {stage}: {text}")

    def annotate(self, finding: Finding, stage: str | None = None) -> None:
        """An annotation on GitHub; held until ``stage`` finishes, to follow its output."""
        if not self.github:
            return
        with self._lock:
            if stage is None:
                self._write(annotation(finding, self.redact))
            else:  # masked when shown, with every secret known by then
                self._held.setdefault(stage, []).append(finding)

    def error(self, text: str) -> None:
        with self._lock:
            self._write(f"error: {text}", stream=sys.stderr)

    def line(self, text: str) -> None:
        with self._lock:
            self._write(text)

    def finish(self, report: Report, findings: Mapping[str, Sequence[Finding]] | None = None) -> None:
        """The stage table and the run's status; the step summary on GitHub Actions."""
        with self._lock:
            self._write_lines([annotation(f, self.redact) for held in self._held.values() for f in held])
            self._held.clear()
            self._write("")
            for stage in report.stages:
                status = stage.label + (" (cached)" if stage.cached else "")
                self._write(
                    f"{_ICONS.get(stage.status, '?')} {stage.name:<9} {status:<22} "
                    f"{stage.duration_s:7.1f}s  {stage.summary}"
                )
            self._write(f"gopipe {report.pipeline}: {report.status} in {report.duration_s:.1f}s")
        self.write_step_summary(report, findings or {})

    # -- helpers -----------------------------------------------------------------------
    def _write(self, text: str, stream: TextIO | None = None) -> None:
        out = stream or self.stream
        out.write(self.redact(text) + "\n")
        out.flush()

    def _write_lines(self, lines: Sequence[str]) -> None:
        """Several lines in one write, so nothing from another thread lands in between."""
        if lines:
            self.stream.write("".join(self.redact(line) + "\n" for line in lines))
            self.stream.flush()

    def write_step_summary(self, report: Report, findings: Mapping[str, Sequence[Finding]]) -> None:
        """Append the run's summary to ``$GITHUB_STEP_SUMMARY``, within what is left of 1 MiB."""
        path = self.environ.get("GITHUB_STEP_SUMMARY")
        if not path:
            return
        try:
            used = os.path.getsize(path)
        except OSError:
            used = 0
        text = step_summary(report, findings, self.environ, self.redact, budget=LIMIT - used)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(self.redact(text))


class LiveConsole(Console):
    """A live table of stages with spinners, progress and durations, for terminals."""

    def __init__(
        self, redactor: Redactor, term: RichTerm | None = None, environ: Mapping[str, str] | None = None
    ) -> None:
        from rich.console import Console as RichTerm

        super().__init__(redactor, environ=environ)
        self.term = term or RichTerm(highlight=False)
        self._rows: dict[str, dict[str, object]] = {}
        self._live: Live | None = None

    def start(self, pipeline: str, stages: Sequence[str]) -> None:
        self._pipeline = pipeline
        self._rows = {
            s: {"status": "pending", "started": None, "duration": None, "detail": ""} for s in stages
        }
        from rich.live import Live

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

    def stage_finished(
        self,
        result: StageResult,
        log: Sequence[str],
        blocks: Sequence[LogBlock] = (),
        log_file: str | None = None,
    ) -> None:
        row = self._rows.setdefault(result.name, {})
        row.update(
            status=result.label + (" (cached)" if result.cached else ""),
            duration=result.duration_s,
            detail=result.summary or (result.error or "").split("\n", 1)[0],
        )

    def progress(self, stage: str, text: str) -> None:
        if stage in self._rows:
            self._rows[stage]["detail"] = text

    def line(self, text: str) -> None:
        from rich.markup import escape

        self.term.print(escape(self.redact(text)))

    def error(self, text: str) -> None:
        from rich.markup import escape

        self.term.print(f"[bold red]error:[/] {escape(self.redact(text))}")

    def finish(self, report: Report, findings: Mapping[str, Sequence[Finding]] | None = None) -> None:
        from rich.panel import Panel
        from rich.text import Text

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
        self.write_step_summary(report, findings or {})

    def _render(self) -> RenderableType:
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, pad_edge=False, show_header=False)
        table.add_column(width=2)
        table.add_column(min_width=9)
        table.add_column(min_width=9)
        table.add_column(justify="right", min_width=7)
        table.add_column(overflow="ellipsis", no_wrap=True)
        now = time.monotonic()
        for name, row in self._rows.items():
            status = str(row.get("status", "pending"))
            base = status.split(" ", 1)[0]  # "skipped (no providers)", "success (cached)"
            icon: RenderableType
            if status == "running":
                icon = Spinner("dots", style="cyan")
                started = row.get("started")
                duration = now - started if isinstance(started, float) else 0.0
            else:
                icon = Text(_ICONS.get(base, "?"), style=_STYLES.get(base, ""))
                d = row.get("duration")
                duration = d if isinstance(d, float) else 0.0
            shown = f"{duration:.1f}s" if base not in ("pending", "skipped") else ""
            table.add_row(
                icon,
                Text(name, style="bold"),
                Text(status, style=_STYLES.get(base, "")),
                shown,
                Text(self.redact(str(row.get("detail") or "")), style="dim"),
            )
        return Group(Text(f"gopipe {self._pipeline}", style="bold"), table)


def make_console(
    redactor: Redactor, *, plain: bool | None = None, environ: Mapping[str, str] | None = None
) -> Console:
    """Live console on a TTY; plain lines in CI, when piped, or when asked."""
    env = dict(os.environ if environ is None else environ)
    github = env.get("GITHUB_ACTIONS") == "true"
    if plain is None:
        plain = github or not sys.stdout.isatty() or env.get("TERM") == "dumb"
    return Console(redactor, github=github, environ=env) if plain else LiveConsole(redactor, environ=env)
