"""Who may write the remote cache: only runs of trusted refs, never a pull request.

Reads are always allowed (a restored file is checked against its digest). A write is what
could poison other people's builds, so by default only CI runs of a push to the default
branch or of a tag write, and ``pull_request``/``pull_request_target`` events never do,
whatever the configuration says: a fork's code runs in those.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gopipe.remote_cache.options import CacheOptions

UNTRUSTED_EVENTS = frozenset({"pull_request", "pull_request_target"})


@dataclass(frozen=True)
class WriteDecision:
    allowed: bool
    why: str


def default_branch(opts: CacheOptions, env: Mapping[str, str]) -> str:
    """The configured default branch, the workflows' ``GOPIPE_DEFAULT_BRANCH``, the GitHub event's
    repository, else ``main``."""
    if opts.default_branch:
        return opts.default_branch
    if env.get("GOPIPE_DEFAULT_BRANCH"):  # set by the generated workflows
        return env["GOPIPE_DEFAULT_BRANCH"]
    event = env.get("GITHUB_EVENT_PATH", "")
    if event:
        try:
            data = json.loads(Path(event).read_text())
            branch = data.get("repository", {}).get("default_branch")
            if isinstance(branch, str) and branch:
                return branch
        except (OSError, ValueError, AttributeError):
            pass
    return "main"


def write_refs(opts: CacheOptions, env: Mapping[str, str]) -> tuple[str, ...]:
    return opts.write_refs or (f"refs/heads/{default_branch(opts, env)}", "refs/tags/*")


def may_write(opts: CacheOptions, env: Mapping[str, str]) -> WriteDecision:
    """Whether this run may write the remote cache, and why (for the log)."""
    event = env.get("GITHUB_EVENT_NAME", "")
    if event in UNTRUSTED_EVENTS:
        return WriteDecision(False, f"read-only: {event} events never write the cache")
    if opts.write == "never":
        return WriteDecision(False, "read-only: write = 'never'")
    if opts.write == "always":
        return WriteDecision(True, "writes: write = 'always'")
    ref = env.get("GITHUB_REF", "")
    if not ref:
        return WriteDecision(False, "read-only: not a CI run of a trusted ref (GITHUB_REF is unset)")
    patterns = write_refs(opts, env)
    if any(fnmatch.fnmatchcase(ref, p) for p in patterns):
        return WriteDecision(True, f"writes: {ref} is trusted")
    return WriteDecision(False, f"read-only: {ref} is not one of {', '.join(patterns)}")
