"""Which git refs may deploy: CI/CD separation as a check, not a convention.

A deploy is refused unless the current ref matches one of the allowed patterns:

- ``default-branch``: the repository's default branch (``ctx.git.default_branch``);
- ``release-tags``: a version tag (``v1.2.3`` / ``1.2.3``) at HEAD;
- ``branch:<glob>`` / ``tag:<glob>``: fnmatch patterns on the branch or tag name;
- ``pull-request``: pull/merge request runs.

Pull request runs are refused unless ``pull-request`` is allowed explicitly, whatever their
branch is called: a fork can name its branch ``main``, and ``GITHUB_HEAD_REF`` would then
match ``default-branch``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gopipe.git import GitInfo

KEYWORDS = ("default-branch", "release-tags", "pull-request")
_PREFIXES = ("branch:", "tag:")

# GitHub Actions events and GitLab pipeline sources that build unmerged code.
_PR_EVENTS = frozenset({"pull_request", "pull_request_target"})


def pattern_error(pattern: str) -> str | None:
    """Why ``pattern`` is not a valid allowed-ref entry, or None when it is."""
    if pattern in KEYWORDS:
        return None
    for prefix in _PREFIXES:
        if pattern.startswith(prefix):
            return None if pattern[len(prefix) :] else f"{pattern!r} has an empty pattern"
    return f"{pattern!r} is not an allowed-ref entry (use {', '.join(KEYWORDS)}, branch:<glob> or tag:<glob>)"


def pull_request(env: Mapping[str, str]) -> str | None:
    """A description of the pull/merge request event this run builds, if it is one."""
    event = env.get("GITHUB_EVENT_NAME", "")
    if event in _PR_EVENTS:
        return f"GITHUB_EVENT_NAME={event}"
    if env.get("CI_PIPELINE_SOURCE") == "merge_request_event":
        return "CI_PIPELINE_SOURCE=merge_request_event"
    return None


@dataclass(frozen=True)
class RefDecision:
    allowed: bool
    ref: str  # what was checked, for messages: "branch 'main'", "tag 'v1.2.0'" …
    matched: str | None = None  # the pattern that allowed it


def describe_ref(git: GitInfo, env: Mapping[str, str]) -> str:
    parts = []
    pr = pull_request(env)
    if pr:
        parts.append(f"pull request ({pr})")
    if git.branch:
        parts.append(f"branch '{git.branch}'")
    if git.tag:
        parts.append(f"tag '{git.tag}'")
    return ", ".join(parts) or f"detached HEAD at {git.short_sha}"


def check_ref(git: GitInfo, env: Mapping[str, str], patterns: Sequence[str]) -> RefDecision:
    """Decide whether the checked-out ref may deploy under ``patterns``."""
    ref = describe_ref(git, env)
    if pull_request(env):
        ok = "pull-request" in patterns
        return RefDecision(ok, ref, "pull-request" if ok else None)
    for pattern in patterns:
        if pattern == "default-branch":
            hit = bool(git.branch) and git.branch == git.default_branch
        elif pattern == "release-tags":
            hit = git.is_release_tag
        elif pattern.startswith("branch:"):
            hit = bool(git.branch) and fnmatch.fnmatchcase(git.branch or "", pattern[7:])
        elif pattern.startswith("tag:"):
            hit = bool(git.tag) and fnmatch.fnmatchcase(git.tag or "", pattern[4:])
        else:
            hit = False
        if hit:
            return RefDecision(True, ref, pattern)
    return RefDecision(False, ref)


def explain_patterns(git: GitInfo, patterns: Sequence[str]) -> str:
    """``allowed_refs`` in words, with the default branch resolved."""
    words = []
    for p in patterns:
        if p == "default-branch":
            words.append(
                f"default branch '{git.default_branch}'"
                if git.default_branch
                else "default branch (unknown here: set GOPIPE_DEFAULT_BRANCH)"
            )
        elif p == "release-tags":
            words.append("version tags")
        else:
            words.append(p)
    return ", ".join(words) or "nothing"
