"""Git metadata for stamping, reports and notifications, read with the ``git`` command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gopipe.secrets import safe_url, scp_remote
from gopipe.versions import normalise_prefix, version_tags

_VERSION_TAG = re.compile(r"^v?\d+\.\d+\.\d+")
# ``services/api/v1.2.3``: a version of the module in a subdirectory, not of this one
_PREFIXED_VERSION_TAG = re.compile(r"/v?\d+\.\d+\.\d+")


@dataclass(frozen=True)
class GitInfo:
    sha: str
    short_sha: str
    branch: str | None
    tag: str | None
    version: str  # `git describe --tags --always --dirty` without a leading "v"
    dirty: bool
    commit_time: int  # Unix seconds; the reproducible build date
    author: str | None
    subject: str | None
    remote_url: str | None
    default_branch: str | None
    tag_prefix: str = ""  # "services/api/" when the module sits there; its tags carry it

    @property
    def date(self) -> str:
        return datetime.fromtimestamp(self.commit_time, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["date"] = self.date
        return data

    @property
    def is_release_tag(self) -> bool:
        """HEAD carries a version tag of this module (``v1.2.3``, or ``services/api/v1.2.3``)."""
        if not self.tag or not self.tag.startswith(self.tag_prefix):
            return False
        return bool(_VERSION_TAG.match(self.tag[len(self.tag_prefix) :]))


UNKNOWN = GitInfo(
    sha="none",
    short_sha="none",
    branch=None,
    tag=None,
    version="0.0.0-dev",
    dirty=False,
    commit_time=int(os.environ.get("SOURCE_DATE_EPOCH", "0") or 0),
    author=None,
    subject=None,
    remote_url=None,
    default_branch=None,
)


def work_tree_root(path: Path) -> Path | None:
    """The top of the git work tree holding ``path`` (the directory with ``.git``), or None.

    The Go module may sit in a subdirectory of the repository, but GitHub names files from
    the repository's top: annotations, SARIF and links to a file at a commit need that prefix.
    """
    here = path.resolve()
    return next((d for d in (here, *here.parents) if (d / ".git").exists()), None)


def module_tag_prefix(root: Path) -> str:
    """The tag prefix of the Go module at ``root``: its path from the repository's top
    (``services/api/``), or ``""`` for the module at the top and outside git."""
    top = work_tree_root(root)
    if top is None:
        return ""
    return normalise_prefix(root.resolve().relative_to(top).as_posix())


def read_git_info(
    root: Path, environ: dict[str, str] | None = None, *, tag_prefix: str | None = None
) -> GitInfo:
    """Read HEAD's metadata; fall back to GitHub Actions variables on detached checkouts.

    ``tag``, ``version`` and ``is_release_tag`` are those of one Go module: the one whose tags
    start with ``tag_prefix`` (``services/api`` reads ``services/api/v1.2.3`` as ``1.2.3``, as the
    module proxy does). ``None`` means the module at ``root``; ``""`` the repository's top
    module, which never takes another module's prefixed tags.

    Six small ``git`` commands run at once (a few milliseconds in all): importing GitPython
    alone took longer than the whole no-op rerun should (docs/performance.md).
    """
    env = environ if environ is not None else dict(os.environ)
    prefix = module_tag_prefix(root) if tag_prefix is None else normalise_prefix(tag_prefix)
    asks = {
        "head": ["log", "-1", "--format=%H%x00%ct%x00%an%x00%B", "HEAD"],
        "branch": ["symbolic-ref", "-q", "--short", "HEAD"],
        "tags": ["tag", "--points-at", "HEAD"],
        "describe": [
            "describe",
            "--tags",
            "--always",
            "--dirty",
            f"--match={prefix}v[0-9]*",
            f"--match={prefix}[0-9]*",
            f"--exclude={prefix}*/*",  # a nested module's tags (services/api/v2/v2.0.0)
        ],
        "origin": ["config", "--get", "remote.origin.url"],
        "refs": [
            "for-each-ref",
            "--format=%(refname)%00%(symref)",
            "refs/remotes/origin/HEAD",
            "refs/heads/main",
            "refs/heads/master",
        ],
    }
    out = _git_outputs(root, asks)
    head = out.get("head")
    if not head:  # not a repository, no commit yet, or no git
        return UNKNOWN
    sha, committed, author, message = [*head.split("\0", 3), "", "", ""][:4]
    branch: str | None = out.get("branch") or None
    if branch is None:  # detached HEAD, as in actions/checkout of a tag or PR merge commit
        branch = env.get("GITHUB_HEAD_REF") or (
            env.get("GITHUB_REF_NAME") if env.get("GITHUB_REF_TYPE") == "branch" else None
        )
    tags = sorted((out.get("tags") or "").split())
    ours = version_tags(tags, prefix)
    # a name like "nightly" is kept; a version of another module (v1.0.0 for services/api) is not
    others = [t for t in tags if not _VERSION_TAG.match(t) and not _PREFIXED_VERSION_TAG.search(t)]
    tag = ours[0].name if ours else (others[-1] if others else None)
    described = out.get("describe") or (sha[:7] + ("-dirty" if _dirty(root) else ""))
    described = described.removeprefix(prefix)
    dirty = described.endswith("-dirty")
    version = described[1:] if _VERSION_TAG.match(described) and described.startswith("v") else described
    if not _VERSION_TAG.match(version):
        version = f"0.0.0-{version}"
    origin = out.get("origin")
    remote_url = public_url(origin) if origin else None
    if env.get("GITHUB_SERVER_URL") and env.get("GITHUB_REPOSITORY"):
        remote_url = public_url(f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}")
    subject = message.split("\n", 1)[0]
    return GitInfo(
        sha=sha,
        short_sha=sha[:7],
        branch=branch,
        tag=tag,
        version=version,
        dirty=dirty,
        commit_time=int(committed or 0),
        author=author or None,
        subject=subject or None,
        remote_url=remote_url,
        default_branch=_default_branch(out.get("refs") or "", env),
        tag_prefix=prefix,
    )


def _git_outputs(root: Path, asks: dict[str, list[str]]) -> dict[str, str]:
    """Run each ``git`` command at once in ``root``; the stdout of those that succeed."""
    git = shutil.which("git")
    if git is None or not root.is_dir():
        return {}
    procs = {
        key: subprocess.Popen(
            [git, *args],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for key, args in asks.items()
    }
    found: dict[str, str] = {}
    for key, proc in procs.items():
        stdout, _ = proc.communicate()
        if proc.returncode == 0:
            found[key] = stdout.rstrip("\n") if key == "head" else stdout.strip()
    return found


def _dirty(root: Path) -> bool:
    """Tracked files changed (``describe`` failed, so it could not say)."""
    return bool(_git_outputs(root, {"s": ["status", "--porcelain", "--untracked-files=no"]}).get("s"))


def _default_branch(refs: str, env: dict[str, str]) -> str | None:
    """``origin/HEAD``'s target, else main or master if such a local branch exists."""
    if env.get("GOPIPE_DEFAULT_BRANCH"):
        return env["GOPIPE_DEFAULT_BRANCH"]
    targets = dict([*line.split("\0", 1), ""][:2] for line in refs.splitlines() if line)
    origin_head = targets.get("refs/remotes/origin/HEAD", "")
    if origin_head:
        return origin_head.rsplit("/", 1)[-1]
    return next((n for n in ("main", "master") if f"refs/heads/{n}" in targets), None)


def public_url(url: str) -> str:
    """Turn a remote into a browsable URL without credentials.

    Parsed, not pattern-matched: userinfo (a password with "@" in it, a token as the user
    name), query and fragment (``?access_token=``) are dropped; ``git@host:org/repo.git``
    and ``ssh://`` remotes become ``https://host/org/repo``. The result reaches report.json,
    metadata.json, SBOMs and image annotations, none of which are masked afterwards.
    """
    text = url.strip()
    scp = scp_remote(text)
    if scp is not None:
        host, path = scp
        return f"https://{host}/{path.lstrip('/')}".removesuffix(".git")
    safe = safe_url(text)
    ssh = _SSH_URL.match(safe)
    if ssh:  # the web server listens on https, not on the ssh port
        safe = f"https://{ssh['host']}{ssh['path']}"
    return safe.removesuffix("/").removesuffix(".git")


_SSH_URL = re.compile(
    r"^(?:ssh|git|git\+ssh|ssh\+git)://(?P<host>\[[^\]/]*\]|[^:/]*)(?::\d*)?(?P<path>/.*)?$"
)
