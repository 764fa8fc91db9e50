"""The one message every notifier sends, distilled from the run report.

Built once from ``ctx.report`` so that Slack, WeCom, email … all say the same thing:
where (repo, branch, commit, author), what happened (status, the failed stage and the
first lines of why), how long each stage took, and what came out (coverage, image
digests, deployed environments, the CI run URL). Every string is masked on the way in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gopipe.artifacts import Artifact
from gopipe.report import Report, RunStatus
from gopipe_plugins.notify.labels import Event

REASON_LINES = 8
_LINE_CHARS = 300
_GITHUB_LIKE = re.compile(r"^https?://[^/]+/(?P<path>[^/]+/[^/]+?)/?$")


@dataclass(frozen=True)
class StageLine:
    """One stage as a notification shows it."""

    name: str
    status: str
    duration_s: float
    summary: str


@dataclass(frozen=True)
class Message:
    """What a notification says; independent of any service's format."""

    pipeline: str
    project: str
    repo_url: str | None
    branch: str
    commit: str
    short_commit: str
    commit_url: str | None
    author: str
    subject: str
    version: str
    status: RunStatus
    event: Event
    failed_stage: str | None
    reason: str
    details: tuple[str, ...]
    stages: tuple[StageLine, ...]
    duration_s: float
    coverage: float | None
    images: tuple[str, ...]
    environments: tuple[str, ...]
    ci_url: str | None
    changelog: str = ""  # the release notes (dist/CHANGELOG.md) when the run is a release

    @property
    def ref(self) -> str:
        return self.branch or self.short_commit

    def to_json(self) -> dict[str, object]:
        """The message as plain JSON (the generic webhook sends it next to the report)."""
        return {
            "pipeline": self.pipeline,
            "project": self.project,
            "repo_url": self.repo_url,
            "branch": self.branch,
            "commit": self.commit,
            "author": self.author,
            "subject": self.subject,
            "version": self.version,
            "status": self.status,
            "event": self.event,
            "failed_stage": self.failed_stage,
            "reason": self.reason,
            "details": list(self.details),
            "stages": [
                {
                    "name": s.name,
                    "status": s.status,
                    "duration_s": round(s.duration_s, 3),
                    "summary": s.summary,
                }
                for s in self.stages
            ],
            "duration_s": round(self.duration_s, 3),
            "coverage": self.coverage,
            "images": list(self.images),
            "environments": list(self.environments),
            "ci_url": self.ci_url,
        }


#: notes longer than this are cut: every service bounds a message, and the release page has them all
_MAX_CHANGELOG = 4000


def build_message(
    report: Report,
    event: Event,
    *,
    project: str,
    redactor: Callable[[str], str],
    artifacts: Iterable[Artifact] | None = None,
    changelog: str = "",
) -> Message:
    """Distil ``report`` into a :class:`Message`; ``artifacts`` default to the report's."""
    git = report.git
    found = list(artifacts if artifacts is not None else report.artifacts)
    stages = tuple(
        StageLine(s.name, s.status, s.duration_s, redactor(s.summary))
        for s in report.stages
        if s.name != "notify"
    )
    failed_stage, reason, details = _why(report, redactor)
    repo_url = git.remote_url if git.remote_url and git.remote_url.startswith("http") else None
    return Message(
        pipeline=report.pipeline,
        project=_project_name(repo_url) or project,
        repo_url=repo_url,
        branch=git.branch or git.tag or "",
        commit=git.sha,
        short_commit=git.short_sha,
        commit_url=f"{repo_url}/commit/{git.sha}" if repo_url and git.sha != "none" else None,
        author=redactor(git.author or ""),
        subject=_clip(redactor(git.subject or "")),
        version=git.version,
        status=report.status,
        event=event,
        failed_stage=failed_stage,
        reason=reason,
        details=details,
        stages=stages,
        duration_s=report.duration_s,
        coverage=_coverage(found),
        images=_images(found),
        environments=_environments(found),
        ci_url=report.ci_url,
        changelog=redactor(changelog[:_MAX_CHANGELOG]),
    )


def _why(report: Report, redactor: Callable[[str], str]) -> tuple[str | None, str, tuple[str, ...]]:
    """The first failed stage, its one-line error and the first lines of its details."""
    for stage in report.stages:
        if stage.status != "failed" or stage.name == "notify":
            continue
        provider = stage.failed_provider()
        details: list[str] = []
        if provider is not None and provider.details:  # masked before cut: see _clip
            details = [_clip(line) for line in redactor(provider.details).splitlines() if line.strip()]
        return (
            stage.name,
            _clip(redactor(stage.error or "failed")),
            tuple(details[:REASON_LINES]),
        )
    if report.status == "cancelled":
        return None, "run cancelled", ()
    if report.error:
        return None, _clip(redactor(report.error)), ()
    return None, "", ()


def _clip(line: str) -> str:
    """Cut an already masked line: cutting first could leave a secret's unmasked prefix."""
    line = line.rstrip()
    return line if len(line) <= _LINE_CHARS else line[: _LINE_CHARS - 1] + "…"


def _project_name(repo_url: str | None) -> str | None:
    match = _GITHUB_LIKE.match(repo_url or "")
    return match["path"] if match else None


def _coverage(artifacts: list[Artifact]) -> float | None:
    for artifact in reversed(artifacts):
        if artifact.kind == "coverage-summary":
            value = artifact.extra.get("percent")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
    return None


def _images(artifacts: list[Artifact]) -> tuple[str, ...]:
    """``repo@sha256:…`` references; pushed references win over local names."""
    refs: list[str] = []
    for artifact in artifacts:
        if artifact.kind != "image":
            continue
        ref = str(artifact.extra.get("reference") or artifact.name)
        digest = artifact.extra.get("digest") or artifact.sha256
        if digest and "@" not in ref:
            digest = str(digest)
            ref = f"{ref}@{digest if ':' in digest else 'sha256:' + digest}"
        if ref not in refs:
            refs.append(ref)
    return tuple(refs)


def _environments(artifacts: list[Artifact]) -> tuple[str, ...]:
    envs: list[str] = []
    for artifact in artifacts:
        if artifact.kind != "deployment":
            continue
        env = str(artifact.extra.get("environment") or artifact.name)
        outcome = str(artifact.extra.get("outcome") or artifact.extra.get("status") or "success")
        shown = env if outcome in ("success", "succeeded", "healthy") else f"{env} ({outcome})"
        if shown not in envs:
            envs.append(shown)
    return tuple(envs)
