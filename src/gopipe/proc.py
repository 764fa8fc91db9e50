"""Run child processes in their own process group, so a cancel can stop whole trees.

Every process a run starts is tracked; Ctrl-C, SIGTERM or a stage timeout terminates the
group (SIGTERM, then SIGKILL after a grace period). Output is streamed line by line to a
callback, which is how ``go test -json`` drives live progress.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

GRACE_S = 5.0


@dataclass(frozen=True)
class Completed:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.cancelled

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class ProcessTracker:
    """The live child processes of one scope (a run or a stage)."""

    def __init__(self, parent: ProcessTracker | None = None) -> None:
        self._procs: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()
        self._parent = parent
        # live sub-scopes (a run's stages): a cancel must also stop the commands they start
        # next, not only the ones running now. A scope made after the cancel (notify) is free.
        self._children: weakref.WeakSet[ProcessTracker] = weakref.WeakSet()
        self.cancelled = threading.Event()
        if parent is not None:
            with parent._lock:
                parent._children.add(self)

    def _add(self, proc: subprocess.Popen[str]) -> None:
        with self._lock:
            self._procs.add(proc)
        if self._parent is not None:
            self._parent._add(proc)

    def _remove(self, proc: subprocess.Popen[str]) -> None:
        with self._lock:
            self._procs.discard(proc)
        if self._parent is not None:
            self._parent._remove(proc)

    def cancel(self) -> None:
        """Stop every tracked process group now and refuse to start new ones, here and in
        every live sub-scope."""
        self._mark_cancelled()
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            _signal_group(proc, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(GRACE_S)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)

    def _mark_cancelled(self) -> None:
        self.cancelled.set()
        with self._lock:
            children = list(self._children)
        for child in children:
            child._mark_cancelled()

    def run(
        self,
        args: Sequence[str | os.PathLike[str]],
        *,
        cwd: Path,
        env: Mapping[str, str],
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        timeout: float | None = None,
    ) -> Completed:
        argv = tuple(str(a) for a in args)
        if self.cancelled.is_set():
            return Completed(argv, -signal.SIGTERM, "", "", cancelled=True)
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
        self._add(proc)
        out: list[str] = []
        err: list[str] = []
        timed_out = False
        readers = [
            threading.Thread(target=_pump, args=(proc.stdout, out, on_stdout), daemon=True),
            threading.Thread(target=_pump, args=(proc.stderr, err, on_stderr), daemon=True),
        ]
        for t in readers:
            t.start()
        try:
            if self.cancelled.is_set():  # cancelled between the check above and _add: cancel() missed it
                _terminate(proc)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(GRACE_S)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        finally:
            for t in readers:
                t.join()
            self._remove(proc)
        cancelled = timed_out or (self.cancelled.is_set() and proc.returncode != 0)
        return Completed(argv, proc.returncode, "".join(out), "".join(err), cancelled)


def _pump(stream: object, sink: list[str], callback: Callable[[str], None] | None) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.append(line)
        if callback is not None:
            callback(line)


def _terminate(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the group, SIGKILL it if it is still there after the grace period."""
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(GRACE_S)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen[str], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
