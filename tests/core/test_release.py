"""The release pipeline's gate and snapshot mode, and the changelog, on real git repositories."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gopipe.changelog import github_web_url, parse_commit, render_changelog
from gopipe.cli import main
from gopipe.config.stage_settings import ChangelogGroup, ChangelogSettings
from gopipe.git import read_git_info
from gopipe.plan import make_plan
from gopipe.release import previous_tag, release_tags
from gopipe.stages import Stage
from gopipe.testing import RunResult
from gopipe.versions import version_tags

GIT_ENV = {
    "GIT_AUTHOR_NAME": "gopipe",
    "GIT_AUTHOR_EMAIL": "ci@example.com",
    "GIT_COMMITTER_NAME": "gopipe",
    "GIT_COMMITTER_EMAIL": "ci@example.com",
    "GIT_AUTHOR_DATE": "2026-01-02T03:04:05Z",
    "GIT_COMMITTER_DATE": "2026-01-02T03:04:05Z",
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, env={**os.environ, **GIT_ENV}
    )
    return done.stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def history(go_repo: Path) -> Path:
    """v1.0.0, then conventional commits, then HEAD tagged v1.1.0."""
    git(go_repo, "tag", "v1.0.0")
    commit(go_repo, "feat(api): add greeting endpoint (#12)")
    commit(go_repo, "fix: nil map on empty config")
    commit(go_repo, "docs: typo")
    commit(go_repo, "refactor!: drop the v0 flags")
    commit(go_repo, "chore: bump deps\n\nBREAKING CHANGE: needs Go 1.24")
    commit(go_repo, "no convention at all")
    git(go_repo, "tag", "-a", "v1.1.0", "-m", "v1.1.0")
    return go_repo


def test_release_pipeline_is_build_package_upload_publish() -> None:
    plan = make_plan(["release"])
    assert plan.stages == (Stage.BUILD, Stage.PACKAGE, Stage.UPLOAD, Stage.PUBLISH)
    assert plan.needs[Stage.PUBLISH] == (Stage.UPLOAD,)


def test_parse_commit_reads_conventional_commits() -> None:
    c = parse_commit("a" * 40, "feat(api)!: new auth (#7)\n\nbody")
    assert (c.type, c.scope, c.text, c.breaking, c.pull_request) == ("feat", "api", "new auth", True, 7)
    plain = parse_commit("b" * 40, "Update README")
    assert (plain.type, plain.text, plain.breaking) == ("", "Update README", False)
    footer = parse_commit("c" * 40, "chore: x\n\nBREAKING CHANGE: y")
    assert footer.breaking


def test_tags_are_read_through_versions_with_a_prefix(history: Path) -> None:
    git(history, "tag", "services/api/v9.0.0")
    tags = release_tags(history, "", snapshot=False)
    assert tags.current is not None and tags.current.name == "v1.1.0"
    assert tags.previous is not None and tags.previous.name == "v1.0.0"
    assert "services/api/v9.0.0" not in [t.name for t in tags.tags]
    prefixed = release_tags(history, "services/api", snapshot=False)
    assert [t.name for t in prefixed.tags] == ["services/api/v9.0.0"]
    assert prefixed.current is not None and prefixed.current.text == "9.0.0"
    assert prefixed.previous is None  # v1.0.0 is the root module's, not services/api's


def test_a_stable_release_starts_its_changelog_at_the_previous_stable_release() -> None:
    tags = version_tags(["v1.0.0", "v1.1.0-rc.1", "v1.1.0", "v1.2.0-rc.1"])
    current = next(t for t in tags if t.name == "v1.1.0")
    assert previous_tag(tags, current).name == "v1.0.0"  # type: ignore[union-attr]
    rc = next(t for t in tags if t.name == "v1.2.0-rc.1")
    assert previous_tag(tags, rc).name == "v1.1.0"  # type: ignore[union-attr]


def test_tags_are_read_peeled_and_tags_of_trees_are_not_versions(history: Path, tmp_path: Path) -> None:
    from gopipe.release import read_tags

    git(history, "tag", "-a", "v1.1.1", "-m", "a tag of a tag", "v1.1.0")  # peels to HEAD
    tree = git(history, "rev-parse", "HEAD^{tree}")
    git(history, "tag", "v9.9.9", tree)  # a tag of a tree: not a version of anything
    names, at_head = read_tags(history)
    assert sorted(names) == ["v1.0.0", "v1.1.0", "v1.1.1"]
    assert at_head == {"v1.1.0", "v1.1.1"}
    assert read_tags(tmp_path) == ([], set())  # not a repository


def test_commit_messages_survive_any_text(history: Path) -> None:
    from gopipe.changelog import read_commits

    commit(history, "feat: émoji ✓ and a NUL-free\x1fodd separator\n\nbody line\n")
    (newest, *_) = read_commits(history, "v1.1.0")
    assert newest.subject.startswith("feat: émoji ✓") and newest.type == "feat"
    assert [c.type for c in read_commits(history, "v1.0.0")][-1] == "feat"  # oldest last


def test_changelog_groups_breaking_first_then_features_and_fixes(history: Path) -> None:
    from gopipe.changelog import read_commits

    info = read_git_info(history)
    commits = read_commits(history, "v1.0.0")
    settings = ChangelogSettings(exclude=("^docs:",))
    text = render_changelog(
        commits,
        settings,
        git=info,
        previous=version_tags(["v1.0.0"])[0],
        project="fixture",
        web_url="https://github.com/acme/fixture",
        file="pyproject.toml",
    )
    sections = [line for line in text.splitlines() if line.startswith("### ")]
    assert sections == ["### Breaking changes", "### Features", "### Bug fixes", "### Other changes"]
    assert text.startswith("## v1.1.0 (2026-01-02)\n")
    assert "typo" not in text
    assert "- **api:** add greeting endpoint ([" in text
    assert "([#12](https://github.com/acme/fixture/pull/12))" in text
    sha = git(history, "rev-parse", "HEAD~5")
    assert f"[{sha[:7]}](https://github.com/acme/fixture/commit/{sha})" in text
    assert text.index("drop the v0 flags") < text.index("add greeting endpoint")
    assert "**Full changelog**: https://github.com/acme/fixture/compare/v1.0.0...v1.1.0" in text
    # configurable groups and order; a commit no group takes is left out
    only_fixes = ChangelogSettings(groups=(ChangelogGroup("Fixes", types=("fix", "refactor")),), sort="asc")
    text = render_changelog(
        commits, only_fixes, git=info, previous=None, project="p", web_url=None, file="pyproject.toml"
    )
    assert [line for line in text.splitlines() if line.startswith("- ")] == [
        f"- drop the v0 flags ({git(history, 'rev-parse', 'HEAD~2')[:7]})",
        f"- nil map on empty config ({git(history, 'rev-parse', 'HEAD~4')[:7]})",
    ]


def test_github_links_only_for_github_remotes() -> None:
    assert github_web_url("https://github.com/acme/app", {}) == "https://github.com/acme/app"
    assert github_web_url("https://gitlab.com/acme/app", {}) is None
    ghe = {"GITHUB_SERVER_URL": "https://ghe.acme.test"}
    assert github_web_url("https://ghe.acme.test/acme/app", ghe) == "https://ghe.acme.test/acme/app"


def run_release(repo: Path, *args: str) -> tuple[int, dict[str, object]]:
    code = main(["run", "release", "-C", str(repo), "--plain", "--no-notify", *args])
    return code, json.loads((repo / "dist" / "gopipe" / "report.json").read_text())


def test_release_refuses_an_untagged_commit(go_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_release(go_repo)
    assert code == 2
    err = capsys.readouterr().err
    assert "HEAD (" in err and "is not a version tag (vX.Y.Z)" in err and "--snapshot" in err
    assert "Traceback" not in err
    assert report["exit_code"] == 2 and report["stages"] == []


def test_release_refuses_a_dirty_tree(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (history / "go.mod").write_text((history / "go.mod").read_text() + "\n// local edit\n")
    code, _ = run_release(history)
    assert code == 2
    assert "uncommitted changes" in capsys.readouterr().err


@pytest.mark.slow
def test_snapshot_builds_with_the_snapshot_version_and_publishes_nothing(go_repo: Path) -> None:
    git(go_repo, "tag", "v0.3.1")
    commit(go_repo, "feat: more")
    (go_repo / "pyproject.toml").write_text(
        '[tool.gopipe]\ntargets = ["linux/amd64"]\n[tool.gopipe.package]\nproviders = ["archive"]\n'
        '[tool.gopipe.publish]\nproviders = ["github"]\n'
        '[tool.gopipe.publish.github]\nowner = "acme"\nrepo = "fixture"\napi_url = "http://127.0.0.1:9"\n'
    )
    git(go_repo, "commit", "-qam", "config")
    short = git(go_repo, "rev-parse", "--short=7", "HEAD")
    code, report = run_release(go_repo, "--snapshot")
    assert code == 0, report
    version = f"0.3.2-SNAPSHOT-{short}"
    assert report["git"]["version"] == version  # type: ignore[index]
    assert report["snapshot"] is True
    stages = {s["name"]: s for s in report["stages"]}  # type: ignore[attr-defined]
    assert stages["publish"]["status"] == "skipped" and "snapshot" in stages["publish"]["summary"]
    assert stages["upload"]["status"] == "skipped"
    artifacts = report["artifacts"]
    assert artifacts and all(a["snapshot"] is True for a in artifacts)  # type: ignore[attr-defined]
    binary = next(a for a in artifacts if a["kind"] == "binary")  # type: ignore[attr-defined]
    out = subprocess.run([str(go_repo / binary["path"])], capture_output=True, text=True, check=True)
    assert out.stdout  # the fixture prints; it ran
    assert any(version in a["name"] for a in artifacts if a["kind"] == "archive")  # type: ignore[attr-defined]
    changelog = (go_repo / "dist" / "CHANGELOG.md").read_text()
    assert "- more (" in changelog and "- config (" in changelog


def test_init_offers_darwin_amd64_and_the_release_tables(tmp_path: Path) -> None:
    import tomllib

    from gopipe.config import load_config
    from gopipe.init import tool_table
    from gopipe.init_fit import Fit

    table = tool_table(Fit())

    wanted = [line for line in table.splitlines() if "darwin/amd64" in line]
    assert len(wanted) == 1
    text = "[tool.gopipe]\n" + wanted[0].removeprefix("# ").split("  #")[0] + "\n"
    (tmp_path / "pyproject.toml").write_text(text)
    assert "darwin/amd64" in load_config(tmp_path).settings.targets
    release = [
        line.removeprefix("# ") for line in table.splitlines() if "publish" in line and "=" not in line
    ]
    assert "[tool.gopipe.publish]" in release
    tomllib.loads(table)  # still valid TOML with everything commented


@pytest.mark.slow
def test_tagging_an_unchanged_tree_rebuilds_instead_of_restoring_the_old_version(
    go_repo: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    first = gopipe_run(go_repo, "build")
    again = gopipe_run(go_repo, "build")
    assert first.exit_code == again.exit_code == 0
    assert again.stage("build")["cached"] is True  # nothing changed: restored
    git(go_repo, "tag", "v9.9.9")
    tagged = gopipe_run(go_repo, "build")
    assert tagged.stage("build")["cached"] is False
    [binary] = [a for a in tagged.report["artifacts"] if a["kind"] == "binary"]
    out = subprocess.run([str(go_repo / binary["path"])], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "fixture 9.9.9"
