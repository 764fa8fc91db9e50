"""Process scopes: a cancel stops whole process groups, now and for the scope's next commands."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from gopipe.proc import Completed, ProcessTracker


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_cancel_kills_the_whole_process_group(tmp_path: Path) -> None:
    """The grandchild (a backgrounded sleep) dies with its shell, as ``go test`` binaries must."""
    run = ProcessTracker()
    stage = ProcessTracker(parent=run)
    pids = tmp_path / "pids"
    result: list[Completed] = []

    def work() -> None:
        script = f'sleep 30 & echo $! > "{pids}"; wait'
        result.append(stage.run(["sh", "-c", script], cwd=tmp_path, env=dict(os.environ)))

    worker = threading.Thread(target=work)
    worker.start()
    deadline = time.monotonic() + 10
    while not (pids.is_file() and pids.read_text().strip()):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    grandchild = int(pids.read_text())
    run.cancel()  # the run's scope, not the stage's: what Ctrl-C does
    worker.join(10)
    assert not worker.is_alive()
    (done,) = result
    assert done.cancelled and not done.ok
    deadline = time.monotonic() + 5
    while _alive(grandchild):  # killed, and reaped by init
        assert time.monotonic() < deadline, "the backgrounded sleep survived the cancel"
        time.sleep(0.01)


def test_a_cancel_reaches_live_sub_scopes_but_not_later_ones(tmp_path: Path) -> None:
    run = ProcessTracker()
    stage = ProcessTracker(parent=run)
    run.cancel()
    assert stage.cancelled.is_set()
    started = time.monotonic()
    refused = stage.run(["sleep", "30"], cwd=tmp_path, env=dict(os.environ))
    assert refused.cancelled and not refused.ok and time.monotonic() - started < 1
    notify = ProcessTracker(parent=run)  # made after the cancel: notifiers still run
    done = notify.run(["sh", "-c", "echo still here"], cwd=tmp_path, env=dict(os.environ))
    assert done.ok and done.stdout == "still here\n"


def test_a_command_timeout_stops_the_group(tmp_path: Path) -> None:
    started = time.monotonic()
    done = ProcessTracker().run(["sleep", "30"], cwd=tmp_path, env=dict(os.environ), timeout=0.2)
    assert done.cancelled and not done.ok and time.monotonic() - started < 5
