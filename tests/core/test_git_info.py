"""read_git_info against real git repositories: what it reads, each from the ``git`` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gopipe.git import UNKNOWN, read_git_info
from gopipe.testing import make_git_repo

ENV = {
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_AUTHOR_DATE": "2026-03-04T05:06:07Z",
    "GIT_COMMITTER_DATE": "2026-03-04T05:06:07Z",
    "PATH": "/usr/bin:/bin:/usr/local/bin",
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, env=ENV, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    (path / "a.txt").write_text("a\n")
    make_git_repo(path)
    (path / "b.txt").write_text("b\n")
    git(path, "add", "b.txt")
    git(path, "commit", "-q", "-m", "Add b\n\nwith a body line")
    return path


def test_head_branch_author_subject_and_time(repo: Path) -> None:
    info = read_git_info(repo, environ={})
    assert info.sha == git(repo, "rev-parse", "HEAD")
    assert info.short_sha == info.sha[:7]
    assert info.branch == "main"
    assert info.author == "Ada Lovelace"
    assert info.subject == "Add b"
    assert info.date == "2026-03-04T05:06:07Z"
    assert (info.tag, info.dirty, info.remote_url) == (None, False, None)
    assert info.version == f"0.0.0-{info.sha[:7]}"
    assert info.default_branch == "main"  # no origin/HEAD: the local main branch


def test_release_tag_wins_and_version_drops_the_v(repo: Path) -> None:
    git(repo, "tag", "zzz-not-a-version")
    git(repo, "tag", "-a", "v1.2.3", "-m", "release")  # annotated: peeled to the commit
    info = read_git_info(repo, environ={})
    assert info.tag == "v1.2.3"
    assert info.is_release_tag
    assert info.version == "1.2.3"


def test_dirty_tracked_file_and_untracked_file(repo: Path) -> None:
    (repo / "new.txt").write_text("untracked\n")
    assert not read_git_info(repo, environ={}).dirty  # untracked files do not count
    (repo / "a.txt").write_text("changed\n")
    info = read_git_info(repo, environ={})
    assert info.dirty
    assert info.version.endswith("-dirty")


def test_detached_head_takes_the_branch_from_github(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    assert read_git_info(repo, environ={}).branch is None
    env = {"GITHUB_REF_NAME": "feature", "GITHUB_REF_TYPE": "branch"}
    assert read_git_info(repo, environ=env).branch == "feature"
    assert read_git_info(repo, environ={"GITHUB_HEAD_REF": "pr-head"}).branch == "pr-head"


def test_origin_and_its_head_name_the_remote_and_default_branch(repo: Path, tmp_path: Path) -> None:
    git(repo, "remote", "add", "origin", "https://user:secret-token-123@example.com/org/app.git")
    git(repo, "update-ref", "refs/remotes/origin/trunk", "HEAD")
    git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/trunk")
    info = read_git_info(repo, environ={})
    assert info.remote_url == "https://example.com/org/app"
    assert info.default_branch == "trunk"
    assert read_git_info(repo, environ={"GOPIPE_DEFAULT_BRANCH": "dev"}).default_branch == "dev"


def test_a_subdirectory_reads_the_enclosing_repository(repo: Path) -> None:
    sub = repo / "go" / "module"
    sub.mkdir(parents=True)
    assert read_git_info(sub, environ={}).sha == git(repo, "rev-parse", "HEAD")


def test_no_repository_no_commit_and_no_directory_are_unknown(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert read_git_info(empty, environ={}) == UNKNOWN
    assert read_git_info(tmp_path / "missing", environ={}) == UNKNOWN


def test_reading_git_imports_no_gitpython() -> None:
    code = "import sys; from gopipe.git import read_git_info; read_git_info(__import__('pathlib').Path('.'))"
    code += "; print('git' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
