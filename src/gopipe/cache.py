"""Stage cache: a no-op rerun reuses the results of stages whose inputs are unchanged.

A stage's inputs are explicit: the source tree (every file git tracks or would track,
by content), the environment that steers Go (``GO*``/``CGO_*``), the Go version, the
selected providers with their options (tool versions included), the run's arguments and
the fingerprints of the stages it needs. Only stages without side effects (lint, test,
coverage, build) are cached, only successful results are stored, and a hit is used only
when every file artifact the stage recorded is still there with the same sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gopipe.artifacts import Artifact, Finding, sha256_file
from gopipe.registry import SelectedProvider
from gopipe.secrets import Redactor
from gopipe.stages import Stage

CACHEABLE = frozenset({Stage.LINT, Stage.TEST, Stage.COVERAGE, Stage.BUILD})
_FORMAT = 1
# where Go keeps its build cache changes how fast a build is, not what it builds
_NOT_INPUTS = frozenset({"GOCACHEPROG"})


class SourceTree:
    """Content digest of the repository's sources, computed once per run."""

    def __init__(self, root: Path, exclude: Iterable[Path]) -> None:
        self.root = root
        self.exclude = [p.resolve() for p in exclude]
        self._digest: str | None = None
        self._lock = threading.Lock()

    def digest(self) -> str:
        with self._lock:
            if self._digest is None:
                self._digest = self._compute()
            return self._digest

    def _files(self) -> list[str]:
        proc = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=self.root,
            capture_output=True,
            check=False,
        )
        if proc.returncode == 0:
            return sorted({f for f in proc.stdout.decode().split("\0") if f})
        return sorted(
            str(p.relative_to(self.root))
            for p in self.root.rglob("*")
            if p.is_file() and ".git" not in p.parts
        )

    def _compute(self) -> str:
        digest = hashlib.sha256()
        for rel in self._files():
            path = self.root / rel
            if any(path.resolve().is_relative_to(e) for e in self.exclude) or not path.is_file():
                continue
            digest.update(rel.encode() + b"\0" + sha256_file(path).encode() + b"\n")
        return digest.hexdigest()


def fingerprint(
    stage: Stage,
    sources: SourceTree,
    selected: Iterable[SelectedProvider],
    environ: Mapping[str, str],
    go_version: str,
    settings: Any,
    args: Any,
    upstream: Iterable[str],
) -> str:
    """One hex digest over everything that can change the stage's result."""
    parts = {
        "format": _FORMAT,
        "stage": stage.value,
        "sources": sources.digest(),
        "go": go_version,
        "env": {
            k: v
            for k, v in sorted(environ.items())
            if k.startswith(("GO", "CGO_")) and not k.startswith("GOPIPE_") and k not in _NOT_INPUTS
        },
        "providers": [
            (s.name, s.registered.distribution, s.registered.version, repr(s.options)) for s in selected
        ],
        "settings": repr(settings),
        "args": repr(args),
        "upstream": list(upstream),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class CachedStage:
    fingerprint: str
    summary: str
    artifacts: list[Artifact]
    findings: list[Finding]


class StageCache:
    """One JSON file per stage under ``dist/gopipe/cache/``."""

    def __init__(self, directory: Path, root: Path) -> None:
        self.directory = directory
        self.root = root

    def lookup(self, stage: Stage, key: str) -> CachedStage | None:
        path = self.directory / f"{stage.value}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("fingerprint") != key:
            return None
        try:
            artifacts = [Artifact(**{**a, "extra": a.get("extra", {})}) for a in data["artifacts"]]
            findings = [Finding(**f) for f in data.get("findings", [])]
        except (KeyError, TypeError, AttributeError):
            return None  # not what store() writes: a miss, the stage runs
        root = self.root.resolve()
        for a in artifacts:
            if a.path is None:
                continue
            file = (root / str(a.path)).resolve()
            if not file.is_relative_to(root):  # another run's record: never read outside the repo
                return None
            if a.sha256 and (not file.is_file() or sha256_file(file) != a.sha256):
                return None
        return CachedStage(key, str(data.get("summary", "")), artifacts, findings)

    def store(self, stage: Stage, entry: CachedStage, redactor: Redactor) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{stage.value}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                redactor.redact_obj(
                    {
                        "fingerprint": entry.fingerprint,
                        "summary": entry.summary,
                        "artifacts": [a.to_json() for a in entry.artifacts],
                        "findings": [asdict(f) for f in entry.findings],
                    }
                ),
                indent=1,
            )
        )
        os.replace(tmp, path)
