"""Release notes from git history: the commits between the previous version tag and this one.

Subjects are read as conventional commits (``type(scope)!: description``) and sorted into
the configured groups (breaking changes, features and fixes first by default). When the
remote is GitHub, each line links to its commit and to the pull request its subject names
(``(#12)``, as squash merges write it). The text is written to ``dist/CHANGELOG.md`` before
any stage runs, is the release body publishers use, and is ``{changelog}`` in notify templates.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from gopipe.config.stage_settings import ChangelogGroup, ChangelogSettings
from gopipe.errors import ConfigError, GopipeError
from gopipe.git import GitInfo
from gopipe.templates import render_template
from gopipe.versions import VersionTag

_CONVENTIONAL = re.compile(
    r"^(?P<type>[A-Za-z][\w-]*)(?:\((?P<scope>[^()\n]*)\))?(?P<bang>!)?:\s+(?P<text>\S.*)$"
)
_BREAKING_FOOTER = re.compile(r"^BREAKING[ -]CHANGE:\s", re.MULTILINE)
_PULL_REQUEST = re.compile(r"\(#(?P<number>\d{1,9})\)\s*$")
#: a subject is one line on the page, whatever a commit holds
_MAX_SUBJECT = 300


@dataclass(frozen=True)
class Commit:
    """One commit as the release notes see it."""

    sha: str
    subject: str
    type: str = ""  # conventional type, lower case; "" when the subject is not conventional
    scope: str = ""
    text: str = ""  # the description after ``type(scope):``, or the whole subject
    breaking: bool = False
    pull_request: int | None = None


def parse_commit(sha: str, message: str) -> Commit:
    """The conventional-commit reading of a commit message."""
    subject = (message.splitlines() or [""])[0].strip()[:_MAX_SUBJECT]
    body = message.split("\n", 1)[1] if "\n" in message else ""
    pr = _PULL_REQUEST.search(subject)
    number = int(pr["number"]) if pr else None
    bare = _PULL_REQUEST.sub("", subject).rstrip() if pr else subject
    match = _CONVENTIONAL.match(bare)
    if match is None:
        breaking = bool(_BREAKING_FOOTER.search(body))
        return Commit(sha, subject, text=bare, breaking=breaking, pull_request=number)
    return Commit(
        sha,
        subject,
        type=match["type"].lower(),
        scope=match["scope"] or "",
        text=match["text"],
        breaking=bool(match["bang"]) or bool(_BREAKING_FOOTER.search(body)),
        pull_request=number,
    )


def read_commits(root: Path, since: str | None, until: str = "HEAD") -> list[Commit]:
    """Commits after ``since`` (a tag; None = from the first commit) up to ``until``, newest
    first; merge commits are left out (the commits they bring in are listed). One ``git log``
    with NUL/RS separators, so any message text survives."""
    rev = f"{since}..{until}" if since else until
    res = subprocess.run(
        ["git", "log", "--no-merges", "--format=%H%x00%B%x1e", rev, "--"],
        cwd=root, capture_output=True, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if res.returncode != 0:
        raise GopipeError(f"changelog: git log {rev}: {res.stderr.decode('utf-8', 'replace').strip()[:200]}")
    commits = []
    for record in res.stdout.decode("utf-8", "replace").split("\x1e"):
        sha, sep, message = record.lstrip("\n").partition("\x00")
        if sep:
            commits.append(parse_commit(sha, message))
    return commits


def group_of(commit: Commit, groups: Sequence[ChangelogGroup]) -> int | None:
    """The index of the first group that takes ``commit``, or None."""
    for i, group in enumerate(groups):
        if group.breaking and commit.breaking:
            return i
        if "*" in group.types or (commit.type and commit.type in group.types):
            return i
    return None


def github_web_url(remote_url: str | None, environ: Mapping[str, str]) -> str | None:
    """The repository's GitHub page when the remote is GitHub (or this GitHub Enterprise server)."""
    if not remote_url or not remote_url.startswith("https://"):
        return None
    servers = {"https://github.com"}
    if environ.get("GITHUB_SERVER_URL"):
        servers.add(environ["GITHUB_SERVER_URL"].rstrip("/"))
    for server in servers:
        if remote_url.startswith(server + "/") and remote_url.count("/") == server.count("/") + 2:
            return remote_url
    return None


def compile_excludes(settings: ChangelogSettings, file: str) -> list[re.Pattern[str]]:
    """The exclude patterns, compiled; a bad one is a ConfigError naming it."""
    patterns = []
    for i, pattern in enumerate(settings.exclude):
        try:
            patterns.append(re.compile(pattern))
        except re.error as exc:
            raise ConfigError(
                file,
                f"tool.gopipe.publish.changelog.exclude[{i}]",
                f"{pattern!r} is not a regular expression: {exc}"[:200],
                "write a Python regular expression, e.g. '^docs:'",
            ) from None
    return patterns


def render_changelog(
    commits: Sequence[Commit],
    settings: ChangelogSettings,
    *,
    git: GitInfo,
    previous: VersionTag | None,
    project: str,
    web_url: str | None,
    file: str,
) -> str:
    """The release notes as Markdown."""
    excludes = compile_excludes(settings, file)
    tag = git.tag or f"v{git.version}"
    day = datetime.fromtimestamp(git.commit_time, tz=timezone.utc).strftime("%Y-%m-%d")
    variables = {
        "tag": tag,
        "version": git.version,
        "previous_tag": previous.name if previous else "",
        "date": day,
        "project": project,
    }
    key = "tool.gopipe.publish.changelog.header"
    header = render_template(settings.header, variables, file=file, key=key)
    buckets: list[list[Commit]] = [[] for _ in settings.groups]
    for commit in commits:
        if any(p.search(commit.subject) for p in excludes):
            continue
        index = group_of(commit, settings.groups)
        if index is not None:
            buckets[index].append(commit)
    lines = [header, ""] if header else []
    for group, members in zip(settings.groups, buckets, strict=True):
        if not members:
            continue
        if settings.sort:
            members = sorted(members, key=lambda c: c.text.lower(), reverse=settings.sort == "desc")
        lines += [f"### {group.title}", ""]
        lines += [_line(c, web_url) for c in members]
        lines.append("")
    if not any(buckets):
        lines += ["No changes.", ""]
    if web_url and previous:
        lines += [f"**Full changelog**: {web_url}/compare/{previous.name}...{tag}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _line(commit: Commit, web_url: str | None) -> str:
    scope = f"**{commit.scope}:** " if commit.scope else ""
    short = commit.sha[:7]
    link = f"[{short}]({web_url}/commit/{commit.sha})" if web_url else short
    pr = ""
    if commit.pull_request is not None:
        number = commit.pull_request
        pr = f" ([#{number}]({web_url}/pull/{number}))" if web_url else f" (#{number})"
    return f"- {scope}{_escape(commit.text)} ({link}){pr}"


def _escape(text: str) -> str:
    """A subject cannot open HTML or break the list: angle brackets are escaped."""
    return text.replace("<", "&lt;").replace(">", "&gt;")
