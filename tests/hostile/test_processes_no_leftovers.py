"""No process left behind: hostile children under a stage timeout, a Ctrl-C, and nox.

A third-party lint provider (installed for real: a module plus its dist-info entry point on
PYTHONPATH) runs shell and Python children that try to survive: they ignore SIGTERM, start
their own session, double-fork into a daemon, or build a deep tree of sessions. Every
process writes its pid to a file; the test snapshots each one (pid *and* creation time, so
a recycled pid cannot fool it) and, once gopipe has exited, asserts that none is alive and
that no live process still carries the test's marker in its environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from gopipe.proc import GRACE_S, ProcessTracker

WORKTREE = Path(__file__).resolve().parents[2]
MARKER_ENV = "GOPIPE_HOSTILE_RUN"

PLUGIN = '''
"""Test plugin: a lint provider that runs the shell commands it is given, in order."""

from dataclasses import dataclass

from gopipe.api import Linter, ProviderContext, doc, hookimpl


@dataclass(frozen=True)
class HostileOptions:
    commands: tuple[str, ...] = doc("shell commands, run one after another", ())


def run(ctx: ProviderContext[HostileOptions]) -> None:
    for command in ctx.options.commands:
        done = ctx.sh(["sh", "-c", command])
        if not done.ok:
            ctx.fail(f"{command!r} exited {done.returncode}")


@hookimpl
def gopipe_linters() -> list[Linter]:
    return [Linter(name="hostile", run=run, options=HostileOptions, description="runs commands")]
'''

# note NAME PID: publish a pid atomically, so the test never reads half a number
NOTE = 'note() { echo "$2" > "$HOSTILE_PIDS/$1.tmp" && mv "$HOSTILE_PIDS/$1.tmp" "$HOSTILE_PIDS/$1"; }\n'

SCRIPTS = {
    # ignores SIGTERM, and so does its sleeping child (an ignored signal survives exec)
    "ignore_term.sh": NOTE + "trap '' TERM\nnote shell $$\nsleep 1000 &\nnote sleep $!\nwait\n",
    # a new session (out of gopipe's process group) whose leader forks a TERM-proof grandchild
    "setsid.sh": NOTE
    + "note shell $$\n"
    + "setsid sh -c '\n"
    + NOTE
    + 'trap "" TERM; note leader $$; sleep 1000 & note grandchild $!; wait\' &\n'
    + "wait\n",
    # a chain of shells, every other one in a session of its own; the leaf ignores SIGTERM
    "deep.sh": NOTE
    + 'depth=$1\nnote "level$depth" $$\n'
    + 'if [ "$depth" -gt 0 ]; then\n'
    + '  if [ $((depth % 2)) -eq 0 ]; then setsid sh "$0" $((depth - 1)) & else sh "$0" $((depth - 1)) & fi\n'
    + "else\n  trap '' TERM\n  sleep 1000 &\n  note leaf $!\nfi\nwait\n",
    # a plain long command, for a stage to be busy in after a daemon has left
    "hang.sh": NOTE + "note hang $$\nexec sleep 1000\n",
    # the classic daemon: fork, setsid, fork again, ignore SIGTERM; the parents exit at once
    "daemon.py": """
import os, signal, sys, time

def note(name, pid):
    path = os.path.join(os.environ["HOSTILE_PIDS"], name)
    with open(path + ".tmp", "w") as f:
        f.write(str(pid))
    os.replace(path + ".tmp", path)

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if "--keep-pipes" not in sys.argv:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
        note("daemon", os.getpid())
        time.sleep(1000)
    os._exit(0)
os.wait()
""",
}
HANG = "sh hostile/hang.sh"
DEEP = 5


@dataclass(frozen=True)
class Case:
    commands: tuple[str, ...]
    pids: tuple[str, ...]
    timeout: int = 4  # the stage timeout: long enough for every process to have started


CASES = {
    "ignores-sigterm": Case(("sh hostile/ignore_term.sh",), ("shell", "sleep")),
    "setsid-grandchild": Case(("sh hostile/setsid.sh",), ("shell", "leader", "grandchild")),
    "double-fork-daemon": Case((f"{sys.executable} hostile/daemon.py", HANG), ("daemon", "hang")),
    "daemon-keeps-pipes": Case(  # its first command returns only PIPE_DRAIN_S after it exits
        (f"{sys.executable} hostile/daemon.py --keep-pipes", HANG), ("daemon", "hang"), timeout=6
    ),
    "deep-tree": Case((f"sh hostile/deep.sh {DEEP}",), (*(f"level{i}" for i in range(DEEP + 1)), "leaf")),
}


@dataclass
class Repo:
    """A Go repository whose lint stage is the hostile provider, and its pid bookkeeping."""

    path: Path
    env: dict[str, str]
    pids: Path
    marker: str
    seen: dict[str, psutil.Process] = field(default_factory=dict)

    def configure(self, case: Case, *, timeout: float = 600, notify_url: str = "") -> None:
        commands = ", ".join(json.dumps(c) for c in case.commands)
        text = (
            "[tool.gopipe]\n"
            f'[tool.gopipe.lint]\nproviders = ["hostile"]\ntimeout = {timeout}\n'
            f"[tool.gopipe.lint.hostile]\ncommands = [{commands}]\n"
        )
        if notify_url:
            self.env["HOSTILE_HOOK_URL"] = notify_url
            text += (
                '[tool.gopipe.notify]\nproviders = ["webhook"]\n'
                '[tool.gopipe.notify.webhook]\nurl = { env = "HOSTILE_HOOK_URL" }\n'
                "retry = { max_attempts = 4 }\n"
            )
        (self.path / "pyproject.toml").write_text(text)

    def start(self, *argv: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            list(argv), cwd=self.path, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def gopipe(self, *args: str) -> subprocess.Popen[str]:
        return self.start(sys.executable, "-m", "gopipe.cli", "run", *args, "--plain")

    def wait_for_pids(self, names: tuple[str, ...], proc: subprocess.Popen[str], timeout: float = 60) -> None:
        """Snapshot every named process as soon as it has published its pid."""
        deadline = time.monotonic() + timeout
        while set(names) - set(self.seen):
            for name in set(names) - set(self.seen):
                path = self.pids / name
                if path.is_file():
                    self.seen[name] = _snapshot(int(path.read_text()))
            if proc.poll() is not None and set(names) - set(self.seen):
                out, err = proc.communicate()
                pytest.fail(f"gopipe exited {proc.returncode} before {sorted(names)} started:\n{out}{err}")
            assert time.monotonic() < deadline, f"never started: {sorted(set(names) - set(self.seen))}"
            time.sleep(0.05)

    def report(self) -> dict[str, object]:
        return json.loads((self.path / "dist/gopipe/report.json").read_text())  # type: ignore[no-any-return]

    def assert_nothing_left(self) -> None:
        """No snapshotted process and no process with the test's marker is alive."""
        deadline = time.monotonic() + 1.0  # zombies are dead already; init reaps them in its time
        while True:
            alive = {name: p for name, p in self.seen.items() if _alive(p)}
            alive.update({f"marked pid {p.pid}": p for p in _marked(self.marker)})
            if not alive or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert not alive, f"left behind: {_describe(alive)}"


def _snapshot(pid: int) -> psutil.Process:
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:  # already gone: a process object that says so
        return _GONE


class _Gone(psutil.Process):
    def __init__(self) -> None:
        pass

    def is_running(self) -> bool:
        return False


_GONE = _Gone()


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _marked(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if proc.environ().get(MARKER_ENV) == marker and _alive(proc):
                found.append(proc)
    return found


def _describe(procs: dict[str, psutil.Process]) -> str:
    def one(p: psutil.Process) -> str:
        with contextlib.suppress(psutil.Error):
            return f"pid {p.pid} {' '.join(p.cmdline())!r} ({p.status()})"
        return f"pid {p.pid}"

    return "; ".join(f"{name}: {one(p)}" for name, p in procs.items())


@pytest.fixture
def repo(go_repo: Path, tmp_path: Path) -> Iterator[Repo]:
    """The Go repo, the plugin installed on PYTHONPATH, and a kill-everything safety net."""
    site = tmp_path / "site"
    (site / "gopipe_hostile-0.1.dist-info").mkdir(parents=True)
    (site / "gopipe_hostile.py").write_text(PLUGIN)
    (site / "gopipe_hostile-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: gopipe-hostile\nVersion: 0.1\n"
    )
    (site / "gopipe_hostile-0.1.dist-info" / "entry_points.txt").write_text(
        "[gopipe]\nhostile = gopipe_hostile\n"
    )
    scripts = go_repo / "hostile"
    scripts.mkdir()
    for name, text in SCRIPTS.items():
        (scripts / name).write_text(text)
    pids = tmp_path / "pids"
    pids.mkdir()
    marker = uuid.uuid4().hex
    path = [str(site), str(WORKTREE / "src"), str(WORKTREE / "plugins"), str(WORKTREE)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*path, os.environ.get("PYTHONPATH", "")]),
        "HOSTILE_PIDS": str(pids),
        MARKER_ENV: marker,
    }
    env.pop("GITHUB_ACTIONS", None)
    made = Repo(go_repo, env, pids, marker)
    yield made
    for proc in [*made.seen.values(), *_marked(marker)]:  # never leak into the next test
        with contextlib.suppress(psutil.Error):
            proc.kill()


def _finish(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"gopipe still running after {timeout}s:\n{out}{err}")


def _assert_clean_exit(out: str, err: str) -> None:
    assert "Traceback" not in out + err, out + err


# -- a stage timeout and a Ctrl-C end every tree ------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_stage_timeout_ends_the_whole_tree(repo: Repo, name: str) -> None:
    case = CASES[name]
    repo.configure(case, timeout=case.timeout)
    proc = repo.gopipe("lint")
    repo.wait_for_pids(case.pids, proc)
    out, err = _finish(proc, case.timeout + GRACE_S + 30)
    assert proc.returncode == 1, out + err
    _assert_clean_exit(out, err)
    report = repo.report()
    lint = next(s for s in report["stages"] if s["name"] == "lint")  # type: ignore[attr-defined]
    assert report["status"] == "failed"
    assert lint["status"] == "failed"
    assert lint["error"] == f"lint timed out after {case.timeout}s (raise [tool.gopipe.lint] timeout)"
    repo.assert_nothing_left()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_ctrl_c_ends_the_whole_tree(repo: Repo, name: str) -> None:
    case = CASES[name]
    repo.configure(case)
    proc = repo.gopipe("lint")
    repo.wait_for_pids(case.pids, proc)
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    out, err = _finish(proc, GRACE_S + 30)
    assert time.monotonic() - started < GRACE_S + 10
    assert proc.returncode == 130, out + err
    _assert_clean_exit(out, err)
    report = repo.report()
    assert report["status"] == "cancelled"
    assert [s["status"] for s in report["stages"]] == ["cancelled"]  # type: ignore[attr-defined]
    repo.assert_nothing_left()


@pytest.mark.slow
def test_daemon_left_by_a_finished_command_is_ended_with_its_stage(repo: Repo) -> None:
    """The command succeeds but leaves a daemon: the stage's end ends it, and says so."""
    repo.configure(Case((f"{sys.executable} hostile/daemon.py",), ("daemon",)))
    proc = repo.gopipe("lint")
    repo.wait_for_pids(("daemon",), proc)
    out, err = _finish(proc, GRACE_S + 60)
    assert proc.returncode == 0, out + err
    _assert_clean_exit(out, err)
    assert repo.report()["status"] == "success"
    log = (repo.path / "dist/gopipe/logs/lint.log").read_text()
    assert f"ended processes the stage left running: pid {repo.seen['daemon'].pid} (python" in log
    repo.assert_nothing_left()


# -- notify: a hung endpoint must not outlive a Ctrl-C -----------------------------------------
@pytest.fixture
def hung_endpoint() -> Iterator[str]:
    """An HTTP endpoint that accepts connections and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def _wait_for_notify(repo: Repo, proc: subprocess.Popen[str]) -> None:
    """Until notify has started and its first request is in flight (it never gets an answer)."""
    log = repo.path / "dist/gopipe/logs/notify.log"
    deadline = time.monotonic() + 60
    while not log.is_file():
        assert proc.poll() is None, "".join(proc.communicate())
        assert time.monotonic() < deadline, "notify never started"
        time.sleep(0.05)
    time.sleep(0.5)


@pytest.mark.slow
def test_ctrl_c_while_a_notifier_hangs_is_a_cancelled_run(repo: Repo, hung_endpoint: str) -> None:
    repo.configure(Case(("true",), ()), notify_url=hung_endpoint)
    proc = repo.gopipe("lint")
    _wait_for_notify(repo, proc)
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    out, err = _finish(proc, 30)
    assert time.monotonic() - started < 3, "the notifier held the cancel up"
    assert proc.returncode == 130, out + err
    _assert_clean_exit(out, err)
    report = repo.report()
    assert report["status"] == "cancelled" and report["exit_code"] == 130
    statuses = {s["name"]: s["status"] for s in report["stages"]}  # type: ignore[attr-defined]
    assert statuses == {"lint": "success", "notify": "cancelled"}


@pytest.mark.slow
def test_notify_after_a_ctrl_c_gets_a_short_grace(repo: Repo, hung_endpoint: str) -> None:
    """Ctrl-C during a stage: notify still tries to say so, but a hung endpoint gets GRACE_S."""
    repo.configure(Case((HANG,), ("hang",)), notify_url=hung_endpoint)
    proc = repo.gopipe("lint")
    repo.wait_for_pids(("hang",), proc)
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    out, err = _finish(proc, 60)
    assert time.monotonic() - started < GRACE_S + 5
    assert proc.returncode == 130, out + err
    _assert_clean_exit(out, err)
    report = repo.report()
    notify = next(s for s in report["stages"] if s["name"] == "notify")  # type: ignore[attr-defined]
    assert notify["status"] == "cancelled"
    assert notify["error"] == f"notify stopped after {GRACE_S:.0f}s: the run was cancelled"
    repo.assert_nothing_left()


@pytest.mark.slow
def test_second_ctrl_c_stops_the_notifier_at_once(repo: Repo, hung_endpoint: str) -> None:
    """Needs session._cancel_on_signals to pass every signal on (see the lead's note)."""
    repo.configure(Case((HANG,), ("hang",)), notify_url=hung_endpoint)
    proc = repo.gopipe("lint")
    repo.wait_for_pids(("hang",), proc)
    proc.send_signal(signal.SIGINT)
    _wait_for_notify(repo, proc)
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    out, err = _finish(proc, 60)
    assert time.monotonic() - started < 1.5, "the second Ctrl-C did not stop the notifier"
    assert proc.returncode == 130, out + err
    _assert_clean_exit(out, err)
    repo.assert_nothing_left()


# -- nox --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_nox_ctrl_c_exits_130_and_ends_the_tree(repo: Repo) -> None:
    (repo.path / "noxfile.py").write_text("import gopipe.nox\n\ngopipe.nox.install()\n")
    case = CASES["setsid-grandchild"]
    repo.configure(case)
    proc = repo.start(sys.executable, "-m", "nox", "-s", "lint", "--", "--plain")
    repo.wait_for_pids(case.pids, proc)
    proc.send_signal(signal.SIGINT)
    out, err = _finish(proc, GRACE_S + 30)
    assert proc.returncode == 130, out + err
    _assert_clean_exit(out, err)
    assert repo.report()["status"] == "cancelled"
    repo.assert_nothing_left()


# -- the tracker itself, without a run around it (fast) -----------------------------------------
def test_cancel_reaches_a_child_tracker_and_its_escaped_processes(tmp_path: Path) -> None:
    """A cancel of the run's tracker sets every stage tracker's event and ends a setsid child."""
    run_tracker = ProcessTracker()
    stage = ProcessTracker(parent=run_tracker)
    pid_file = tmp_path / "pid"
    publish = f"echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file}"
    script = f"setsid sh -c '{publish}; exec sleep 1000' & exec sleep 1000"
    outcome: list[object] = []
    worker = threading.Thread(
        target=lambda: outcome.append(stage.run(["sh", "-c", script], cwd=tmp_path, env=dict(os.environ))),
        daemon=True,
    )
    worker.start()
    escaped: psutil.Process | None = None
    try:
        deadline = time.monotonic() + 10
        while not pid_file.is_file():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        escaped = psutil.Process(int(pid_file.read_text()))
        assert os.getpgid(escaped.pid) != os.getpgid(os.getpid())
        ended = run_tracker.cancel()
        worker.join(5)
        assert not worker.is_alive()
        assert stage.cancelled.is_set()
        assert escaped in ended and not _alive(escaped)
        assert getattr(outcome[0], "cancelled", False)
    finally:  # a failing tracker must not leak the sleep into the next test
        if escaped is None and pid_file.is_file():
            escaped = _snapshot(int(pid_file.read_text()))
        if escaped is not None and _alive(escaped):
            with contextlib.suppress(psutil.Error):
                escaped.kill()  # psutil checks it is still the same process first


def test_a_new_child_tracker_is_not_born_cancelled() -> None:
    """Notify starts after a cancel to report it: its tracker must see only later cancels."""
    run_tracker = ProcessTracker()
    run_tracker.cancel()
    notify = ProcessTracker(parent=run_tracker)
    assert not notify.cancelled.is_set()
    run_tracker.cancel()
    assert notify.cancelled.is_set()


def test_client_stop_ends_a_request_in_flight(hung_endpoint: str) -> None:
    from gopipe_oci.retry import RetryPolicy
    from gopipe_plugins._common.http import Client, DeliveryError

    lines: list[str] = []
    client = Client("webhook", RetryPolicy(max_attempts=4), log=lines.append, timeout=30)
    failure: list[BaseException] = []

    def send() -> None:
        try:
            client.send("POST", hung_endpoint, b"{}")
        except DeliveryError as exc:
            failure.append(exc)

    worker = threading.Thread(target=send)
    worker.start()
    time.sleep(0.3)
    started = time.monotonic()
    client.stop.set()
    worker.join(5)
    assert time.monotonic() - started < 1
    assert "stopped while sending (attempt 1/4)" in str(failure[0])
    where = hung_endpoint.removesuffix("/hook")
    assert lines == [f"webhook: POST {where} abandoned: the stage was cancelled"]
