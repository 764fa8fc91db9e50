"""Cancellation, timeouts, GitHub Actions output, nox sessions and `gopipe init`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gopipe.testing import RunResult

SLOW_TEST = (
    'package greet\n\nimport (\n\t"testing"\n\t"time"\n)\n\n'
    "func TestSlow(t *testing.T) {\n\ttime.Sleep(120 * time.Second)\n}\n"
)


def _gopipe(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gopipe.cli", "run", *args, "--plain"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _wait_for(predicate: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def _test_binaries(parent: int) -> list[str]:
    """greet.test processes started (through go test) by ``parent``; other runs are ignored."""
    table = subprocess.run(
        ["ps", "-e", "-o", "pid=,ppid=,args="], capture_output=True, text=True, check=True
    ).stdout
    procs = [line.split(None, 2) for line in table.splitlines() if line.strip()]
    children: dict[str, list[str]] = {}
    for pid, ppid, *_ in procs:
        children.setdefault(ppid, []).append(pid)
    tree, frontier = set(), [str(parent)]
    while frontier:
        pid = frontier.pop()
        tree.add(pid)
        frontier.extend(children.get(pid, []))
    return [p[0] for p in procs if p[0] in tree and len(p) > 2 and "greet.test" in p[2]]


@pytest.mark.slow
def test_sigterm_cancels_children_and_writes_report(hello_repo: Path) -> None:
    (hello_repo / "internal/greet/slow_test.go").write_text(SLOW_TEST)
    proc = _gopipe(hello_repo, "test")
    try:
        _wait_for(lambda: bool(_test_binaries(proc.pid)))
        children = _test_binaries(proc.pid)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert time.monotonic() - started < 15
    assert proc.returncode == 130, out + err
    report = json.loads((hello_repo / "dist/gopipe/report.json").read_text())
    assert report["status"] == "cancelled"
    assert report["stages"][0]["status"] == "cancelled"
    _wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in children), timeout=10)


@pytest.mark.slow
def test_stage_timeout_kills_the_stage(hello_repo: Path, gopipe_run: Callable[..., RunResult]) -> None:
    (hello_repo / "internal/greet/slow_test.go").write_text(SLOW_TEST)
    config = hello_repo / "pyproject.toml"
    config.write_text(config.read_text() + "\n[tool.gopipe.test]\ntimeout = 8\n")
    started = time.monotonic()
    result = gopipe_run(hello_repo, "test", "build")
    assert time.monotonic() - started < 60
    assert result.exit_code == 1
    assert result.stage("test")["error"] == "test timed out after 8s (raise [tool.gopipe.test] timeout)"
    assert result.stage("build")["status"] == "success"
    assert not _test_binaries(os.getpid())


@pytest.mark.slow
def test_github_actions_output(hello_repo: Path, tmp_path: Path) -> None:
    greet = hello_repo / "internal/greet/greet.go"
    greet.write_text(greet.read_text() + "\nfunc   ugly( )int{return 1}\n")
    summary = tmp_path / "summary.md"
    proc = _gopipe(
        hello_repo, "lint", "test", env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    )
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1
    assert "::group::lint (failed)" in out and "::endgroup::" in out
    assert "::error file=internal/greet/greet.go,line=" in out
    assert ",title=gofmt::file is not gofmt-ed" in out
    text = summary.read_text()
    assert "gopipe lint+test: failed" in text
    assert "| lint | ✘ failed |" in text and "| test | ✔ success |" in text


@pytest.mark.slow
def test_nox_sessions_in_a_go_repo(hello_repo: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "nox", "-s", "ci", "--", "--plain"],
        cwd=hello_repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "gopipe ci: success" in ok.stdout
    report = json.loads((hello_repo / "dist/gopipe/report.json").read_text())
    assert [s["status"] for s in report["stages"]] == ["success"] * 4
    listed = subprocess.run(
        [sys.executable, "-m", "nox", "--list"], cwd=hello_repo, capture_output=True, text=True, check=True
    ).stdout
    for name in ("ci", "cd", "lint", "test", "coverage", "build", "package", "upload", "deploy", "notify"):
        assert f" {name} " in listed + " "
    config = hello_repo / "pyproject.toml"
    config.write_text(config.read_text().replace("[tool.gopipe.lint]", "[tool.gopipe.lnt]"))
    bad = subprocess.run(
        [sys.executable, "-m", "nox", "-s", "ci"], cwd=hello_repo, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2
    assert "tool.gopipe.lnt: unknown key 'lnt' (fix: did you mean 'lint'?)" in bad.stderr


def test_init_writes_without_clobbering(tmp_path: Path) -> None:
    from gopipe.init import init_repo

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "svc"\n')
    said = init_repo(tmp_path)
    assert (tmp_path / "noxfile.py").read_text() == "import gopipe.nox\n\ngopipe.nox.install()\n"
    text = (tmp_path / "pyproject.toml").read_text()
    assert text.startswith('[project]\nname = "svc"\n') and "[tool.gopipe]" in text
    assert "/dist/" in (tmp_path / ".gitignore").read_text()
    assert len(said) == 3
    (tmp_path / "noxfile.py").write_text("# mine\n")
    again = init_repo(tmp_path)
    assert (tmp_path / "noxfile.py").read_text() == "# mine\n"
    assert (tmp_path / "pyproject.toml").read_text() == text
    assert any("add these two lines" in line for line in again)
    import tomllib

    assert tomllib.loads(text)["tool"]["gopipe"] == {}


def test_init_ignores_every_modules_dist_in_a_monorepo(tmp_path: Path) -> None:
    """A monorepo's modules each write their own dist/, so an anchored /dist/ would leave them tracked."""
    from gopipe.init import init_repo

    for module in ("services/api", "libs/shared"):
        (tmp_path / module).mkdir(parents=True)
        (tmp_path / module / "go.mod").write_text(f"module example.com/{module}\n\ngo 1.24\n")
    (tmp_path / ".gitignore").write_text("/dist/\n")
    said = init_repo(tmp_path)
    assert (tmp_path / ".gitignore").read_text().splitlines() == ["/dist/", "dist/"]
    assert "added dist/ to .gitignore" in said
    init_repo(tmp_path)
    assert (tmp_path / ".gitignore").read_text().splitlines() == ["/dist/", "dist/"]


@pytest.mark.parametrize("argv", [["run", "ci", "--shard", "3/2"], ["run", "build", "--target", "linux"]])
def test_bad_flags_exit_2(argv: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gopipe.cli", *argv], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("gopipe: error: --")
