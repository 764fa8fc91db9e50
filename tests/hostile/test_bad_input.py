"""Bad input: one line naming the file, the key and the fix; exit 2; no traceback; a report.

Each case runs the real ``gopipe`` command in the sandbox (see ``conftest.py``) and checks
every promise, not only the exit code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.hostile.conftest import Sandbox

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("targets = []\n", "tool.gopipe.targets"),
        ('targets = ["linux/amd64", "linux/amd64"]\n', "tool.gopipe.targets"),
        ('main = ["./cmd/hostile", "./cmd/hostile"]\n', "tool.gopipe.main"),
        ('targets = ["linux/amd64"]\n[tool.gopipe.lint]\ntimeout = nan\n', "tool.gopipe.lint.timeout"),
        ('targets = ["linux/amd64"]\n[tool.gopipe.lint]\ntimeout = inf\n', "tool.gopipe.lint.timeout"),
        (
            'targets = ["linux/amd64"]\n[tool.gopipe.lint]\ntimeout = 999999999999999999999999\n',
            "tool.gopipe.lint.timeout",
        ),
        (
            'targets = ["linux/amd64"]\n[tool.gopipe.coverage.threshold]\ntotal = 150\n',
            "tool.gopipe.coverage.threshold.total",
        ),
        (
            'targets = ["linux/amd64"]\n[tool.gopipe.coverage.threshold]\ntotal = -10\n',
            "tool.gopipe.coverage.threshold.total",
        ),
        (
            'targets = ["linux/amd64"]\n[tool.gopipe.coverage.threshold]\npackage = nan\n',
            "tool.gopipe.coverage.threshold.package",
        ),
        ('dist = "../outside"\n', "tool.gopipe.dist"),
        ('dist = "{sentinel}/outside/abs-dist"\n', "tool.gopipe.dist"),
        ('dist = "."\n', "tool.gopipe.dist"),
        ('dist = ".git/x"\n', "tool.gopipe.dist"),
    ],
    ids=[
        "targets-empty",
        "targets-duplicate",
        "main-duplicate",
        "timeout-nan",
        "timeout-inf",
        "timeout-huge",
        "threshold-150",
        "threshold-negative",
        "threshold-nan",
        "dist-parent",
        "dist-absolute",
        "dist-root",
        "dist-in-git",
    ],
)
def test_bad_values_are_config_errors(sandbox: Sandbox, body: str, key: str) -> None:
    sandbox.config(body.replace("{sentinel}", str(sandbox.sentinel)))
    outcome = sandbox.run("run", "ci", "--plain")
    sandbox.check(outcome, code=2, says=key)  # the sentinel check covers the absolute dist


def test_missing_root_is_a_usage_error_and_creates_nothing(sandbox: Sandbox) -> None:
    missing = sandbox.sentinel / "outside" / "missing-repo"
    outcome = sandbox.run("run", "ci", "-C", str(missing), "--plain")
    sandbox.check(outcome, code=2, report=False, says="-C")
    assert not missing.exists()


def test_missing_config_file_is_a_usage_error(sandbox: Sandbox) -> None:
    outcome = sandbox.run("run", "ci", "--config", "nope.toml", "--plain")
    sandbox.check(outcome, code=2, says="--config")


def test_pyproject_not_utf8(sandbox: Sandbox) -> None:
    (sandbox.repo / "pyproject.toml").write_bytes(b'[tool.gopipe]\ntargets = ["linux/\xff\xfe"]\n')
    outcome = sandbox.run("run", "ci", "--plain")
    sandbox.check(outcome, code=2, says="UTF-8")


def test_pyproject_is_a_directory(sandbox: Sandbox) -> None:
    (sandbox.repo / "pyproject.toml").unlink()
    (sandbox.repo / "pyproject.toml").mkdir()
    outcome = sandbox.run("run", "ci", "--plain")
    sandbox.check(outcome, code=2, says="pyproject.toml")


def test_invalid_toml(sandbox: Sandbox) -> None:
    (sandbox.repo / "pyproject.toml").write_text("[tool.gopipe\ntargets = 1\n")
    outcome = sandbox.run("run", "ci", "--plain")
    sandbox.check(outcome, code=2, says="invalid TOML")


def test_dist_is_a_file(sandbox: Sandbox) -> None:
    sandbox.config('targets = ["linux/amd64"]\ndist = "out"\n')
    (sandbox.repo / "out").write_text("not a directory\n")
    outcome = sandbox.run("run", "ci", "--plain")
    # the configured dist cannot hold a report; the default dist/ can
    sandbox.check(outcome, code=2, says="tool.gopipe.dist")
    assert (sandbox.repo / "out").read_text() == "not a directory\n"


def test_no_git_on_path_in_a_checkout(sandbox: Sandbox, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin-without-git"
    bin_dir.mkdir()
    go = Path(os.popen("command -v go").read().strip())
    (bin_dir / "go").symlink_to(go)
    outcome = sandbox.run("run", "lint", "--plain", env={"PATH": str(bin_dir)})
    sandbox.check(outcome, code=2, says="git is not on PATH")


def test_plugin_that_fails_at_import_is_named(sandbox: Sandbox, tmp_path: Path) -> None:
    """An installed plugin (a real distribution's metadata on sys.path) whose import raises."""
    site = tmp_path / "site"
    (site / "gopipe_broken.py").parent.mkdir(parents=True)
    (site / "gopipe_broken.py").write_text("raise RuntimeError('broken on purpose')\n")
    info = site / "gopipe_broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gopipe-broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[gopipe]\nbroken = gopipe_broken\n")
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    outcome = sandbox.run("run", "lint", "--plain", env=env)
    sandbox.check(outcome, code=2, says='disable_plugins = ["broken"]')
    blocked = sandbox.run("run", "lint", "--plain", env={**env, "GOPIPE_DISABLE_PLUGINS": "broken"})
    assert blocked.code == 0, blocked.output[-2000:]


def test_unknown_stage_is_a_usage_error(sandbox: Sandbox) -> None:
    outcome = sandbox.run("run", "lnit", "--plain")
    sandbox.check(outcome, code=2, says="unknown pipeline or stage")


def test_bad_shard_is_a_usage_error(sandbox: Sandbox) -> None:
    outcome = sandbox.run("run", "test", "--shard", "3/2", "--plain")
    sandbox.check(outcome, code=2, report=False, says="--shard")


def test_inert_provider_table_is_named(sandbox: Sandbox) -> None:
    sandbox.config(
        'targets = ["linux/amd64"]\n[tool.gopipe.notify.slack]\nwebhook = { env = "SLACK_WEBHOOK_URL" }\n'
    )
    outcome = sandbox.run("run", "notify", "--plain")
    sandbox.check(outcome, code=0, says="[tool.gopipe.notify.slack] is inert")


def test_second_run_waits_for_the_first(sandbox: Sandbox) -> None:
    """A run holding dist/gopipe/.lock makes a second one wait, then fail clearly: no file of the
    first run is touched."""
    import fcntl
    import subprocess
    import sys

    out = sandbox.repo / "dist" / "gopipe"
    out.mkdir(parents=True)
    (out / "events.jsonl").write_text("first run's events\n")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl,sys,time\n"
            f"f=open({str(out / '.lock')!r},'a+'); fcntl.flock(f, fcntl.LOCK_EX); f.write('pid holder'); "
            "f.flush(); print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        outcome = sandbox.run("run", "notify", "--plain", env={"GOPIPE_LOCK_TIMEOUT": "1"})
        assert outcome.code == 2
        assert "waiting up to 1s" in outcome.output and "still holds" in outcome.output
        assert (out / "events.jsonl").read_text() == "first run's events\n"
        assert not (out / "report.json").exists()
    finally:
        holder.kill()
        holder.wait()
    assert fcntl  # the holder above uses the same advisory lock gopipe takes
    after = sandbox.run("run", "notify", "--plain")
    sandbox.check(after, code=0)


@pytest.mark.parametrize("where", ["a-directory", "missing/dir/schema.json"])
def test_schema_output_that_cannot_be_written_is_a_config_error(sandbox: Sandbox, where: str) -> None:
    (sandbox.repo / "a-directory").mkdir()
    outcome = sandbox.run("schema", "--output", where)
    sandbox.check(outcome, code=2, report=False, says="--output")
    assert not (sandbox.repo / "missing").exists()
