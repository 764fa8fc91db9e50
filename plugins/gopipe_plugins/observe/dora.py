"""DORA signals from one run: which environments were deployed, and whether it worked.

The four keys are derived in PromQL from timestamp gauges (the Pelorus approach), so a
run only has to say *what happened now*: deployments (environment, success or failure,
when, and the commit time and image of what went out). Deploy providers record a
``deployment`` artifact per environment (``environment``, ``outcome``, optionally
``finished_at``, ``digest`` or ``images``); a failed deploy stage that recorded none still
counts as a failed deployment of ``--env`` (or ``default``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from gopipe.report import Report

SUCCESS_OUTCOMES = frozenset({"success", "succeeded", "healthy", "promoted"})


@dataclass(frozen=True)
class Deployment:
    environment: str
    succeeded: bool
    finished_at: float
    commit: str
    commit_time: int
    version: str
    image: str


def deployments(report: Report, environment: str | None, now: float | None = None) -> list[Deployment]:
    """Deployments this run made (or tried to make), one per environment."""
    now = time.time() if now is None else now
    git = report.git
    found: dict[str, Deployment] = {}
    for artifact in report.artifacts:
        if artifact.kind != "deployment":
            continue
        extra = artifact.extra
        env = str(extra.get("environment") or artifact.name)
        outcome = str(extra.get("outcome") or extra.get("status") or "success").lower()
        finished = extra.get("finished_at")
        found[env] = Deployment(
            environment=env,
            succeeded=outcome in SUCCESS_OUTCOMES,
            finished_at=float(finished) if isinstance(finished, (int, float)) else now,
            commit=git.sha,
            commit_time=git.commit_time,
            version=git.version,
            image=_image(extra.get("digest") or extra.get("images")),
        )
    deploy = report.stage("deploy")
    if deploy is not None and deploy.status == "failed" and not any(not d.succeeded for d in found.values()):
        env = environment or "default"
        found[env] = Deployment(env, False, now, git.sha, git.commit_time, git.version, "")
    return list(found.values())


def _image(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and value:
        return str(value[0])
    if isinstance(value, dict) and value:
        return str(next(iter(value.values())))
    return ""
