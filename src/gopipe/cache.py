"""Stage cache: a no-op rerun reuses the results of stages whose inputs are unchanged.

A stage's inputs are explicit: the source tree (every file git tracks or would track,
by content), the environment that steers Go (``GO*``/``CGO_*``), the Go version, the
selected providers with their options (tool versions included), the run's arguments and
the fingerprints of the stages it needs. Only stages without side effects (lint, test,
coverage, build) are cached, only successful results are stored, and a hit is used only
when every file artifact the stage recorded is still there with the same sha256.

Files a stage wrote into ``dist/gopipe`` (JUnit, cover profile, coverage reports) are kept as
copies under ``dist/gopipe/cache/files/<sha256>``: every run starts by removing the previous
run's outputs there (:mod:`gopipe.outputs`), and a hit puts them back, checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
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
        self.files = directory / "files"
        self._copies = threading.Lock()  # stages store at once; one prunes at a time

    def _owned(self, file: Path) -> bool:
        """Whether ``file`` (resolved) is one of gopipe's outputs beside the cache."""
        out = self.directory.parent.resolve()
        return file.is_relative_to(out) and not file.is_relative_to(self.directory.resolve())

    def _put_back(self, file: Path, sha256: str) -> bool:
        """Restore a removed output from its copy, if the copy is intact."""
        copy = self.files / sha256
        if not self._owned(file) or not copy.is_file() or copy.is_symlink() or sha256_file(copy) != sha256:
            return False
        file.parent.mkdir(parents=True, exist_ok=True)
        if file.is_symlink():
            file.unlink()
        shutil.copyfile(copy, file)
        return True

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
            changed = not file.is_file() or sha256_file(file) != a.sha256
            if a.sha256 and changed and not self._put_back(file, a.sha256):
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
        with self._copies:
            self._keep_copies(entry.artifacts)

    def _keep_copies(self, artifacts: Iterable[Artifact]) -> None:
        """Copy the stage's outputs in ``dist/gopipe``; drop copies no entry names any more."""
        root = self.root.resolve()
        self.files.mkdir(parents=True, exist_ok=True)
        for a in artifacts:
            file = (root / str(a.path)).resolve() if a.path else None
            if file is None or not a.sha256 or not self._owned(file) or not file.is_file():
                continue
            copy = self.files / a.sha256
            if not copy.is_file():
                tmp = copy.with_suffix(".tmp")
                shutil.copyfile(file, tmp)
                os.replace(tmp, copy)
        named: set[str] = set()
        for entry in self.directory.glob("*.json"):
            try:
                data = json.loads(entry.read_text())
                named |= {str(a.get("sha256")) for a in data.get("artifacts", []) if isinstance(a, dict)}
            except (OSError, ValueError, AttributeError):
                continue
        for copy in self.files.iterdir():
            if copy.name not in named and not copy.name.endswith(".tmp"):
                copy.unlink(missing_ok=True)
