"""Errors that end a run in a controlled way (no traceback, a clear exit code)."""

from __future__ import annotations

from dataclasses import dataclass


class GopipeError(Exception):
    """Base for errors gopipe reports as one line."""

    exit_code = 1


@dataclass
class ConfigError(GopipeError):
    """Bad configuration or usage: exit code 2, one line naming file, key and fix."""

    file: str
    key: str
    message: str
    fix: str = ""

    exit_code = 2

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        line = f"{where}: {self.message}"
        return f"{line} (fix: {self.fix})" if self.fix else line


class PluginError(ConfigError):
    """A plugin registered something inconsistent (duplicate names, bad types)."""


@dataclass
class StageFailed(GopipeError):
    """Raised by a provider when the work it checks is wrong (a lint finding, a failing test).

    ``file``/``line`` point at the culprit when known; ``details`` holds the relevant
    output (shown in failure panels and notifications, first lines only).
    """

    message: str
    file: str | None = None
    line: int | None = None
    details: str = ""

    def __str__(self) -> str:
        return self.message


class Cancelled(GopipeError):
    """The run was interrupted (Ctrl-C, SIGTERM) or the stage timed out."""

    exit_code = 130
