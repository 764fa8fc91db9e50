"""The release's ``verify`` step: a rebuild in a clean clone elsewhere, before upload and publish.

The tamper is a real one a release machine can have: a git-ignored Go file left in the
checkout (``cmd/fixture/zz_local.go``, changing what the binary prints). The tree is clean
to git, so the release gate lets it through, the binary built here includes it, and the
clean clone does not. ``verify = "require"`` (the default) then refuses to upload or publish
(nothing reaches the local GitHub server); ``verify = "warn"`` publishes with a warning.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.core.test_release import git
from tests.harness.github_api import FakeGitHub, fake_github

from gopipe.testing import RunResult

pytestmark = pytest.mark.slow  # Go builds: the release's and the clean clone's

TOKEN = "ghp_" + "Vr1f" * 9
CONFIG = """[tool.gopipe]
targets = ["linux/amd64"]

[tool.gopipe.package]
providers = ["archive"]

[tool.gopipe.publish]
providers = ["github"]
{verify}
[tool.gopipe.publish.github]
owner = "acme"
repo = "fixture"
api_url = "{api_url}"
token = {{ env = "GH_VERIFY_TOKEN" }}
retry = {{ base_delay = 0.01, max_delay = 0.1 }}
"""
TAMPER = 'package main\n\nfunc init() { version = "tampered" }\n'


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    monkeypatch.setenv("GH_VERIFY_TOKEN", TOKEN)
    with fake_github("acme", "fixture", TOKEN) as fake:
        yield fake


def release_repo(repo: Path, server: FakeGitHub, verify: str = "") -> None:
    (repo / "pyproject.toml").write_text(CONFIG.format(api_url=server.api_url, verify=verify))
    (repo / ".gitignore").write_text("dist/\nzz_local.go\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "release config")
    git(repo, "tag", "v1.0.0")


def stages_of(result: RunResult) -> dict[str, dict[str, object]]:
    return {s["name"]: s for s in result.report["stages"]}


def verify_json(repo: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((repo / "dist/gopipe/verify.json").read_text())
    return data


def drop_kept_clone(repo: Path) -> None:
    kept = Path(str(verify_json(repo)["rebuilt_in"]))
    assert kept.is_dir()  # kept for inspection after a difference
    shutil.rmtree(kept.parents[1])


def test_an_untouched_release_is_rebuilt_identically_then_published(
    go_repo: Path, server: FakeGitHub, gopipe_run: Callable[..., RunResult]
) -> None:
    release_repo(go_repo, server)
    result = gopipe_run(go_repo, "release", "--no-notify")
    assert result.exit_code == 0, result.report
    stages = stages_of(result)
    assert stages["publish"]["status"] == "success"
    assert server.release_of("v1.0.0") is not None
    data = verify_json(go_repo)
    assert data["status"] == "reproducible" and not Path(str(data["rebuilt_in"])).exists()
    assert not str(data["rebuilt_in"]).startswith(str(go_repo))
    compared = data["compared"]
    assert isinstance(compared, list) and "binary:dist/fixture_linux_amd64/fixture" in compared
    assert any(str(c).startswith("archive:") for c in compared)
    log = (go_repo / "dist/gopipe/logs/upload.log").read_text()
    assert "rebuilt identically" in log
    (report,) = [a for a in result.report["artifacts"] if a["kind"] == "verify-report"]
    assert report["extra"] == {"status": "reproducible", "differences": 0, "mode": "require"}


def test_a_tampered_release_is_refused_and_with_warn_published_with_a_warning(
    go_repo: Path,
    server: FakeGitHub,
    gopipe_run: Callable[..., RunResult],
    capsys: pytest.CaptureFixture[str],
) -> None:
    release_repo(go_repo, server)
    (go_repo / "cmd/fixture/zz_local.go").write_text(TAMPER)
    assert git(go_repo, "status", "--porcelain") == ""  # clean to git: the release gate passes

    result = gopipe_run(go_repo, "release", "--no-notify")
    assert result.exit_code == 1, result.report
    stages = stages_of(result)
    upload, publish = stages["upload"], stages["publish"]
    assert upload["status"] == "failed" and publish["status"] == "skipped"
    error = str(upload["error"])
    assert error.startswith("verify: not reproducible: binary:dist/fixture_linux_amd64/fixture: recorded ")
    assert "first difference at byte " in error and "nothing uploaded or published" in error
    assert server.requests == []  # nothing was sent
    data = verify_json(go_repo)
    diffs = {d["artifact"]: d for d in data["differences"]}  # type: ignore[attr-defined]
    binary = diffs["binary:dist/fixture_linux_amd64/fixture"]
    assert f"first difference at byte {binary['first_difference']}" in error
    built = subprocess.run(
        [str(go_repo / "dist/fixture_linux_amd64/fixture")], capture_output=True, text=True, check=True
    )
    assert built.stdout.strip() == "fixture tampered"  # the tamper is real
    drop_kept_clone(go_repo)

    # verify = "warn": the same difference, a warning, and the release goes out
    text = (go_repo / "pyproject.toml").read_text()
    (go_repo / "pyproject.toml").write_text(
        text.replace("[tool.gopipe.publish]\n", '[tool.gopipe.publish]\nverify = "warn"\n')
    )
    git(go_repo, "commit", "-qam", "verify warn")
    git(go_repo, "tag", "v1.0.1")
    capsys.readouterr()
    result = gopipe_run(go_repo, "release", "--no-notify")
    assert result.exit_code == 0, result.report
    stages = stages_of(result)
    assert stages["publish"]["status"] == "success" and server.release_of("v1.0.1") is not None
    summary = str(stages["upload"]["summary"])
    assert summary.startswith("verify (warn): not reproducible: binary:dist/fixture_linux_amd64/fixture")
    assert "published anyway" in summary
    err = capsys.readouterr().err
    assert "warning: verify (warn): not reproducible" in err
    events = [json.loads(line) for line in (go_repo / "dist/gopipe/events.jsonl").read_text().splitlines()]
    assert any(e.get("event") == "warning" and "verify (warn)" in e.get("message", "") for e in events)
    drop_kept_clone(go_repo)


def test_verify_off_does_not_rebuild_and_a_snapshot_is_not_verified(
    go_repo: Path, server: FakeGitHub, gopipe_run: Callable[..., RunResult]
) -> None:
    release_repo(go_repo, server, verify='verify = "off"')
    (go_repo / "cmd/fixture/zz_local.go").write_text(TAMPER)
    result = gopipe_run(go_repo, "release", "--no-notify")
    assert result.exit_code == 0, result.report
    assert not (go_repo / "dist/gopipe/verify.json").exists()
    git(go_repo, "commit", "-q", "--allow-empty", "-m", "later")
    text = (go_repo / "pyproject.toml").read_text().replace('verify = "off"\n', "")
    (go_repo / "pyproject.toml").write_text(text)
    git(go_repo, "commit", "-qam", "verify by default")
    result = gopipe_run(go_repo, "release", "--snapshot", "--no-notify")
    assert result.exit_code == 0, result.report
    assert not (go_repo / "dist/gopipe/verify.json").exists()  # nothing is published, nothing rebuilt
