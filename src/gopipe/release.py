"""What makes a run a release: a clean checkout of a version tag, or an explicit snapshot.

``gopipe run release`` (any run that plans the ``publish`` stage) refuses a dirty tree or a
commit that is not a version tag, because what it publishes must be reproducible from the
tag alone. ``--snapshot`` lifts both checks, names the version
``{next_patch}-SNAPSHOT-{short_commit}`` (as GoReleaser does) and publishes nothing. Tags are
read through :mod:`gopipe.versions`, the one reading of version tags, so a module prefix
(``services/api/v1.2.3``) means the same here as in the monorepo's per-module versions.
"""

from __future__ import annotations

import subprocess
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from gopipe.artifacts import Artifact, sha256_file
from gopipe.changelog import github_web_url, read_commits, render_changelog
from gopipe.config.stage_settings import PublishSettings
from gopipe.errors import ConfigError
from gopipe.git import GitInfo
from gopipe.paths import output_path, remove_owned
from gopipe.stages import Stage
from gopipe.versions import VersionTag, next_patch, normalise_prefix, version_tags

if TYPE_CHECKING:
    from gopipe.config import Config
    from gopipe.context import RunContext

#: What a snapshot says instead of publishing; the report's stage summary and error.
SNAPSHOT_SKIP = "snapshot: nothing published"

#: The uploaders a ``snapshot_uploads = "loopback"`` snapshot may run: each reaches registries
#: only through ``registry_access.connect``, which refuses a host off this machine in a snapshot.
LOOPBACK_UPLOADERS = frozenset({"registry", "oci-artifact", "helm-chart", "sign", "provenance"})


def snapshot_uploads(config: Config) -> str:
    """``[tool.gopipe.publish] snapshot_uploads``: "none" (the default) or "loopback"."""
    settings = config.stage(Stage.PUBLISH).settings
    return settings.snapshot_uploads if isinstance(settings, PublishSettings) else "none"


@dataclass(frozen=True)
class ReleaseTags:
    """The tag released now (None for a snapshot), the one before it, and every version tag."""

    current: VersionTag | None
    previous: VersionTag | None
    tags: tuple[VersionTag, ...]


def read_tags(root: Path) -> tuple[list[str], set[str]]:
    """Every tag name, and the names of the tags that point at HEAD (annotated ones peeled).

    Two plain ``git`` commands (GitPython's import alone cost ~0.2 s of every release run): the
    names, then each ``refs/tags/NAME^{commit}`` through one ``cat-file --batch-check``, which
    peels annotated tags fully and reports a tag of a tree or blob as missing."""
    head = _git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}").strip()
    if not head:
        return [], set()
    names = _git(root, "for-each-ref", "--format=%(refname:strip=2)", "refs/tags").split()
    asks = "".join(f"refs/tags/{name}^{{commit}}\n" for name in names)
    peeled = _git(root, "cat-file", "--batch-check", stdin=asks)
    found: list[str] = []
    at_head: set[str] = set()
    for name, line in zip(names, peeled.splitlines(), strict=False):
        sha, _, kind = line.partition(" ")
        if not kind.startswith("commit"):  # a tag of a tree or blob: not a version of anything
            continue
        found.append(name)
        if sha == head:
            at_head.add(name)
    return found, at_head


def _git(root: Path, *args: str, stdin: str | None = None) -> str:
    """``git ARGS`` in ``root``; its output, or "" when git fails (not a repository, no HEAD)."""
    res = subprocess.run(
        ["git", *args], cwd=root, input=stdin, capture_output=True, text=True, check=False,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )  # fmt: skip
    return res.stdout if res.returncode == 0 else ""


def release_tags(root: Path, prefix: str, *, snapshot: bool) -> ReleaseTags:
    """The version tags of the module at ``prefix``: HEAD's (newest if several) and the previous."""
    names, at_head = read_tags(root)
    tags = version_tags(names, prefix)
    current = None if snapshot else next((t for t in tags if t.name in at_head), None)
    return ReleaseTags(current, previous_tag(tags, current, at_head), tuple(tags))


def previous_tag(
    tags: list[VersionTag], current: VersionTag | None, at_head: Collection[str] = ()
) -> VersionTag | None:
    """Where the changelog starts: the newest older stable release for a stable release, the
    newest older tag of any kind for a pre-release; for a snapshot, the newest tag not at HEAD."""
    older = [t for t in tags if t.name not in at_head and (current is None or t.version < current.version)]
    if current is not None and not current.prerelease:
        older = [t for t in older if not t.prerelease]
    return older[0] if older else None


def release_git(git: GitInfo, tags: ReleaseTags, *, snapshot: bool, prefix: str, file: str) -> GitInfo:
    """``git`` as the release sees it: the tag's version, or the snapshot's; ConfigError when the
    checkout cannot be released (dirty, or not a version tag), with the way out in the fix."""
    if snapshot:
        return replace(git, version=f"{next_patch(list(tags.tags))}-SNAPSHOT-{git.short_sha}")
    key = "tool.gopipe.publish"
    if git.dirty:
        raise ConfigError(
            file,
            key,
            "the work tree has uncommitted changes; a release is built from a clean tag",
            "commit or stash them, or run with --snapshot",
        )
    if tags.current is None:
        wanted = f"{normalise_prefix(prefix)}vX.Y.Z"
        raise ConfigError(
            file,
            key,
            f"HEAD ({git.short_sha}) is not a version tag ({wanted})",
            f"tag the commit (git tag {wanted.replace('X.Y.Z', '1.0.0')}), or run with --snapshot",
        )
    return replace(git, tag=tags.current.name, version=tags.current.text)


def prepare_release(run: RunContext, *, publishing: bool) -> None:
    """Before any stage: the snapshot's version, or the tag checks; then the changelog.

    ``publishing`` says the plan holds the publish stage (``gopipe run release``): only then
    are the tag and the tree checked and ``dist/CHANGELOG.md`` written. A snapshot without
    publish (``gopipe run build --snapshot``) only takes the snapshot version.
    """
    config = run.config
    settings = config.stage(Stage.PUBLISH).settings
    if not isinstance(settings, PublishSettings):  # validated by the core before this runs
        settings = PublishSettings()
    snapshot = run.args.snapshot
    if not snapshot and not publishing:
        return
    # the config's prefix, else the module's own (a module in services/api tags services/api/v1.2.3)
    prefix = settings.tag_prefix or run.git.tag_prefix
    tags = release_tags(config.root, prefix, snapshot=snapshot)
    shown = config.display_file
    run.git = release_git(run.git, tags, snapshot=snapshot, prefix=prefix, file=shown)
    if not publishing or not settings.changelog.enabled:
        return
    commits = read_commits(config.root, tags.previous.name if tags.previous else None)
    text = render_changelog(
        commits,
        settings.changelog,
        git=run.git,
        previous=tags.previous,
        project=run.project,
        web_url=github_web_url(run.git.remote_url, run.env),
        file=config.display_file,
    )
    planted = config.dist / "CHANGELOG.md"
    if planted.is_symlink():  # never written through: removed, not followed
        remove_owned(planted, within=config.dist)
    path = output_path(
        config.root, config.dist, "CHANGELOG.md", file=config.display_file, key="tool.gopipe.dist"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    run.artifacts.add(
        Artifact(
            kind="changelog",
            name=path.name,
            path=str(path.relative_to(config.root)),
            sha256=sha256_file(path),
            stage=Stage.PUBLISH.value,
            provider="changelog",
            extra={
                "previous_tag": tags.previous.name if tags.previous else None,
                "tag": run.git.tag if not snapshot else None,
                "commits": len(commits),
            },
        )
    )
