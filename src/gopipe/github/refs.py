"""Deploy ``allowed_refs`` as GitHub push triggers and job ``if:`` conditions.

The deploy stage decides exactly which refs may deploy (its ``refs`` module, in the plugins);
the generated cd workflow repeats that decision *before* anything is built, so a push that
may not deploy production never starts the production job. GitHub's expressions have no
glob matching, so each pattern becomes a condition that allows a superset of what the stage
allows (a glob's literal prefix and suffix), never less: the stage stays the exact check,
the job condition only saves the run. The pattern grammar is the deploy stage's; ``src/``
may not import the plugins, so it is repeated here and a test keeps the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gopipe.config import Config
from gopipe.errors import ConfigError

KEYWORDS = ("default-branch", "release-tags", "pull-request")
PREFIXES = ("branch:", "tag:")
#: What may deploy when neither the stage nor an environment says (the deploy stage's default).
DEFAULT_ALLOWED_REFS = ("default-branch", "release-tags")
#: Push filters for version tags (``v1.2.3`` and ``1.2.3``, as ``GitInfo.is_release_tag``;
#: ``**`` because GitHub's ``*`` stops at ``/`` and the deploy stage's check does not).
RELEASE_TAG_FILTERS = ("v[0-9]**", "[0-9]**")
DEPLOY_KEY = "tool.gopipe.deploy"
_WILD = re.compile(r"\*|\?|\[!?\]?[^]]*\]")  # fnmatch wildcards: * ? [seq] [!seq]


@dataclass(frozen=True)
class DeployTarget:
    """One cd job: a deploy environment (or the whole cd pipeline when none are configured)."""

    name: str
    job_id: str
    allowed_refs: tuple[str, ...]
    url: str | None
    table: Mapping[str, Any]  # the environment's table, for its secrets
    configured: bool


def deploy_targets(config: Config) -> list[DeployTarget]:
    """The cd jobs in promotion order, from ``[tool.gopipe.deploy]`` as written."""
    shown = config.display_file
    deploy = config.raw.get("deploy", {})
    deploy = deploy if isinstance(deploy, Mapping) else {}
    stage_refs = _refs(deploy.get("allowed_refs", DEFAULT_ALLOWED_REFS), shown, f"{DEPLOY_KEY}.allowed_refs")
    environments = deploy.get("environments", {})
    if not isinstance(environments, Mapping):
        raise ConfigError(
            shown,
            f"{DEPLOY_KEY}.environments",
            "expected a table of environments",
            f"write [{DEPLOY_KEY}.environments.staging]",
        )
    if not environments:
        return [DeployTarget("cd", "cd", stage_refs, None, {}, False)]
    targets: list[DeployTarget] = []
    seen: dict[str, str] = {}
    for name, table in environments.items():
        key = f"{DEPLOY_KEY}.environments.{name}"
        if not isinstance(table, Mapping):
            raise ConfigError(shown, key, "expected a table", f"write [{key}]")
        job_id = "deploy-" + re.sub(r"[^A-Za-z0-9_-]", "-", str(name))
        if job_id in seen:
            raise ConfigError(
                shown,
                key,
                f"environments {seen[job_id]!r} and {name!r} give the same GitHub job id {job_id!r}",
                "rename one of them",
            )
        seen[job_id] = str(name)
        refs = stage_refs
        if table.get("allowed_refs") is not None:
            refs = _refs(table["allowed_refs"], shown, f"{key}.allowed_refs")
        url = table.get("url")
        if url is not None and not (isinstance(url, str) and re.match(r"^https?://[^\s]+$", url)):
            raise ConfigError(
                shown,
                f"{key}.url",
                f"not an http(s) URL: {url!r}",
                'write url = "https://staging.example.com"',
            )
        targets.append(DeployTarget(str(name), job_id, refs, url, table, True))
    return targets


def _refs(value: Any, shown: str, key: str) -> tuple[str, ...]:
    fix = 'e.g. allowed_refs = ["default-branch", "release-tags", "branch:release/*"]'
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(shown, key, "expected an array of ref patterns", fix)
    for pattern in value:
        if pattern in KEYWORDS:
            continue
        prefix = next((p for p in PREFIXES if pattern.startswith(p)), None)
        if prefix is None or not pattern[len(prefix) :]:
            raise ConfigError(
                shown,
                key,
                f"{pattern!r} is not an allowed-ref entry "
                f"(use {', '.join(KEYWORDS)}, branch:<glob> or tag:<glob>)",
                fix,
            )
    return tuple(value)


def _quote(text: str) -> str:
    """A string literal in a GitHub expression."""
    return "'" + text.replace("'", "''") + "'"


def _glob_condition(ref_prefix: str, glob: str) -> str:
    """``github.ref`` matches ``ref_prefix + glob`` (fnmatch), as a superset GitHub can test."""
    parts = _WILD.split(glob)
    if len(parts) == 1:
        return f"github.ref == {_quote(ref_prefix + glob)}"
    condition = f"startsWith(github.ref, {_quote(ref_prefix + parts[0])})"
    if parts[-1]:
        condition = f"({condition} && endsWith(github.ref, {_quote(parts[-1])}))"
    return condition


def ref_condition(patterns: Sequence[str], default_branch: str) -> str:
    """A job ``if:`` (without ``${{ }}``) true for every ref ``patterns`` may deploy from."""
    terms: list[str] = []
    for pattern in patterns:
        if pattern == "default-branch":
            term = f"github.ref == {_quote('refs/heads/' + default_branch)}"
        elif pattern == "release-tags":
            term = "startsWith(github.ref, 'refs/tags/')"
        elif pattern == "pull-request":
            term = "github.event_name == 'pull_request'"
        elif pattern.startswith("branch:"):
            term = _glob_condition("refs/heads/", pattern[len("branch:") :])
        else:
            term = _glob_condition("refs/tags/", pattern[len("tag:") :])
        if term not in terms:
            terms.append(term)
    return " || ".join(terms) or "false"


def _push_filter(glob: str) -> str:
    """An fnmatch glob as a GitHub branch/tag filter that matches at least as much.

    fnmatch's ``*``, ``?`` and ``[seq]`` also match ``/``; GitHub's ``*`` does not and its
    ``?`` means "optional previous character", so every wildcard becomes ``**``, and the
    characters special to GitHub filters are escaped.
    """
    out: list[str] = []
    for i, literal in enumerate(_WILD.split(glob)):
        if i and out[-1:] != ["**"]:  # adjacent wildcards: one ** covers them
            out.append("**")
        if literal:
            out.append(re.sub(r"([+!\\\[\]])", r"\\\1", literal))
    return "".join(out)


def push_filters(patterns: Iterable[str], default_branch: str) -> tuple[list[str], list[str]]:
    """The ``on.push`` branch and tag filters under which ``patterns`` can deploy."""
    branches: list[str] = []
    tags: list[str] = []
    for pattern in patterns:
        if pattern == "default-branch":
            new, into = [_push_filter(default_branch)], branches
        elif pattern == "release-tags":
            new, into = list(RELEASE_TAG_FILTERS), tags
        elif pattern.startswith("branch:"):
            new, into = [_push_filter(pattern[len("branch:") :])], branches
        elif pattern.startswith("tag:"):
            new, into = [_push_filter(pattern[len("tag:") :])], tags
        else:  # pull-request: cd never runs on pull requests
            continue
        into.extend(f for f in new if f not in into)
    return branches, tags
