"""The run report: ``dist/gopipe/report.json``, written on every run, passed or not."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gopipe.artifacts import Artifact
from gopipe.git import GitInfo
from gopipe.secrets import Redactor

RunStatus = Literal["success", "failed", "cancelled"]
StageStatus = Literal["success", "failed", "skipped", "cancelled"]

# How bad a status is. The worst status among the parts wins: the stages of a run, or the
# shards of one stage merged by ``gopipe merge``. A cancel outranks a failure: the run was
# stopped on purpose, and what failed meanwhile may be the cancel's doing.
STATUS_RANK: dict[str, int] = {"skipped": 0, "success": 1, "failed": 2, "cancelled": 3}
EXIT_CODES: dict[RunStatus, int] = {"success": 0, "failed": 1, "cancelled": 130}

# Why a stage was skipped when nothing went wrong: it has no providers (``providers = []``, or
# upload and deploy by default). Such a stage ranks as ``skipped`` (a run of only these is a
# success, exit 0) and, unlike a stage skipped because what it needs failed, blocks nothing.
NO_PROVIDERS = "no providers"


def worst(statuses: Iterable[str]) -> StageStatus:
    """The worst of ``statuses`` (an unknown status counts as failed; none is skipped)."""
    known: list[StageStatus] = ["failed" if s not in STATUS_RANK else s for s in statuses]  # type: ignore[misc]
    return max(known, key=STATUS_RANK.__getitem__, default="skipped")


def run_status(statuses: Iterable[str], *, cancelled: bool = False) -> RunStatus:
    """A run's status from its stages': cancelled, else failed, else success."""
    top = worst(statuses)
    if cancelled or top == "cancelled":
        return "cancelled"
    return "failed" if top == "failed" else "success"


@dataclass
class ProviderResult:
    name: str
    status: StageStatus
    duration_s: float
    error: str | None = None
    details: str = ""
    file: str | None = None
    line: int | None = None


@dataclass
class StageResult:
    name: str
    status: StageStatus
    duration_s: float = 0.0
    providers: list[ProviderResult] = field(default_factory=list)
    error: str | None = None
    summary: str = ""  # one line for the console and notifications, e.g. "coverage 87.5%"
    inputs: str | None = None  # fingerprint of everything the stage read (see gopipe.cache)
    cached: bool = False
    reason: str | None = None  # why it was skipped when that is no failure: NO_PROVIDERS

    @property
    def label(self) -> str:
        """The status as people read it: ``skipped (no providers)``, ``success``."""
        return f"{self.status} ({self.reason})" if self.reason else self.status

    @property
    def passed(self) -> bool:
        """Whether the stages that need this one may run."""
        return self.status == "success" or (self.status == "skipped" and self.reason == NO_PROVIDERS)

    def failed_provider(self) -> ProviderResult | None:
        return next((p for p in self.providers if p.status == "failed"), None)


@dataclass
class Report:
    pipeline: str
    status: RunStatus
    started_at: float
    duration_s: float
    git: GitInfo
    stages: list[StageResult]
    artifacts: list[Artifact]
    error: str | None = None
    exit_code: int = 0
    ci_url: str | None = None
    # a monorepo run: each module's stages and artifacts, paths from the repository's top
    modules: list[dict[str, Any]] = field(default_factory=list)
    snapshot: bool = False  # ``--snapshot``: every artifact is marked, nothing was published

    def stage(self, name: str) -> StageResult | None:
        return next((s for s in self.stages if s.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "pipeline": self.pipeline,
            "status": self.status,
            "exit_code": self.exit_code,
            "error": self.error,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "ci_url": self.ci_url,
            "snapshot": self.snapshot,
            "git": self.git.to_json(),
            "stages": [
                {
                    "name": s.name,
                    "status": s.status,
                    **({"reason": s.reason} if s.reason else {}),
                    "duration_s": round(s.duration_s, 3),
                    "error": s.error,
                    "summary": s.summary,
                    "inputs": s.inputs,
                    "cached": s.cached,
                    "providers": [
                        {k: v for k, v in vars(p).items() if v not in (None, "")}
                        | {"duration_s": round(p.duration_s, 3)}
                        for p in s.providers
                    ],
                }
                for s in self.stages
            ],
            "artifacts": [
                a.to_json() | ({"snapshot": True} if self.snapshot else {}) for a in self.artifacts
            ],
        } | ({"modules": self.modules} if self.modules else {})

    def write(self, path: Path, redactor: Redactor) -> None:
        """Write atomically, with every string masked."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(redactor.redact_obj(self.to_json()), indent=2) + "\n")
        os.replace(tmp, path)


def ci_run_url(environ: dict[str, str]) -> str | None:
    """The CI run's web page when known (GitHub Actions today)."""
    server, repo, run_id = (
        environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if server and repo and run_id:
        return f"{server}/{repo}/actions/runs/{run_id}"
    return None
