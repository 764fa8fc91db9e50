"""A stage's log: ``dist/gopipe/logs/<stage>.log``, masked, and what the console shows of it.

Providers write two things: plain lines (commands, progress, findings) and *blocks*, titled
pieces of output worth reading on their own (a failing test's output, a compiler error, a
``gofmt -d`` diff). The file gets everything, whole; the console shows the lines in the
stage's group and each block in a group of its own, cut to its last lines.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from gopipe.secrets import Redactor


@dataclass(frozen=True)
class LogBlock:
    """One titled piece of a stage's output, masked, in full."""

    title: str
    lines: tuple[str, ...]


class StageLog:
    """The log file of one stage, plus the lines and blocks kept for the console."""

    def __init__(self, path: Path, redactor: Redactor) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._redact = redactor
        self._fh: TextIO = path.open("w", encoding="utf-8")
        self.lines: list[str] = []
        self.blocks: list[LogBlock] = []
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        masked = self._redact(line)
        with self._lock:
            self.lines.append(masked)
            self._file(masked)

    def block(self, title: str, lines: Sequence[str]) -> None:
        """Keep a block; masked as one text, so a secret that spans lines is still one secret."""
        text = self._redact("\n".join(lines))
        masked = LogBlock(self._redact(title), tuple(text.split("\n")) if lines else ())
        with self._lock:
            self.blocks.append(masked)
            self._file(f">>> {masked.title}")
            for line in masked.lines:
                self._file(line)
            self._file(f"<<< {masked.title}")

    def close(self) -> None:
        with self._lock:
            self._fh.close()

    def _file(self, line: str) -> None:
        if not self._fh.closed:
            self._fh.write(line + "\n")
