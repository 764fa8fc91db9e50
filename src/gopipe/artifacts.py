"""Typed records of what stages produce; later stages and the report read them."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Artifact:
    """Something a provider produced: a binary, a report file, an image, a deployment.

    ``kind`` is a short noun other providers filter on (``binary``, ``junit``, ``sarif``,
    ``coverage-profile``, ``cobertura``, ``image``, ``archive`` …). ``path`` is relative to
    the repository root when the artifact is a file. ``extra`` holds kind-specific fields.
    """

    kind: str
    name: str
    path: str | None = None
    os: str | None = None
    arch: str | None = None
    sha256: str | None = None
    stage: str | None = None
    provider: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["extra"] = dict(self.extra)
        return {k: v for k, v in data.items() if v not in (None, {})}


@dataclass(frozen=True)
class Finding:
    """A lint finding or test failure, normalised to file:line:col, rule, message.

    ``file`` is relative to the repository's top (not the Go module's directory), as GitHub
    annotations and SARIF name files. ``message`` may span lines. ``title`` is a short
    heading for annotations and summaries (default: tool and rule). ``suppressed`` is why
    the finding is accepted for now (a waiver's reason and date): it is still reported
    (SARIF ``suppressions``, the step summary) but never fails a stage.
    """

    tool: str
    rule: str
    message: str
    file: str | None = None
    line: int | None = None
    col: int | None = None
    level: str = "error"  # error | warning | note
    end_line: int | None = None
    title: str | None = None
    suppressed: str | None = None

    def heading(self) -> str:
        """The annotation's title: ``title``, else the tool and the rule (once if they match)."""
        if self.title:
            return self.title
        return self.tool if self.rule in ("", self.tool) else f"{self.tool} {self.rule}"

    def location(self) -> str:
        parts = [p for p in (self.file, self.line, self.col) if p is not None]
        return ":".join(str(p) for p in parts)


class ArtifactStore:
    """Thread-safe list of artifacts and findings for one run."""

    def __init__(self) -> None:
        self._artifacts: list[Artifact] = []
        self._findings: list[tuple[str, Finding]] = []
        self._lock = threading.Lock()

    def add(self, artifact: Artifact) -> None:
        with self._lock:
            self._artifacts.append(artifact)

    def add_finding(self, stage: str, finding: Finding) -> None:
        with self._lock:
            self._findings.append((stage, finding))

    def __iter__(self) -> Iterator[Artifact]:
        with self._lock:
            return iter(list(self._artifacts))

    def of_kind(self, kind: str) -> list[Artifact]:
        return [a for a in self if a.kind == kind]

    def findings(self, stage: str | None = None) -> list[Finding]:
        with self._lock:
            return [f for s, f in self._findings if stage is None or s == stage]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
