"""Run child processes so that a cancel or a timeout can stop everything they started.

Every process a run starts is tracked, per stage, with the run's tracker as parent. Ctrl-C,
SIGTERM or a stage timeout ends the *whole tree*: the child's process group, every
descendant, and whatever left the group or the tree (``setsid``, double-forked daemons) —
SIGTERM, then SIGKILL after a grace period (see :mod:`gopipe.proctree`). A cancel reaches
every live tracker below the one cancelled, so each stage (notify's included) sees it in its
``cancelled`` event. Output is streamed line by line to a callback, which is how
``go test -json`` drives live progress.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from gopipe import proctree

GRACE_S = 5.0
SCAN_INTERVAL_S = 0.5  # how often a running command's descendants are remembered
PIPE_DRAIN_S = 2.0  # after a command exits, how long a leftover holding its pipes may delay us


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


@dataclass(eq=False)
class _Command:
    """One started command and what it has been seen to start."""

    popen: subprocess.Popen[str]
    watched: proctree.Watched = field(init=False)

    def __post_init__(self) -> None:
        self.watched = proctree.Watched(self.popen.pid)


class ProcessTracker:
    """The live child processes of one scope (a run or a stage)."""

    def __init__(self, parent: ProcessTracker | None = None) -> None:
        self._commands: set[_Command] = set()
        self._lock = threading.Lock()
        self._parent = parent
        # live sub-scopes (a run's stages): a cancel must also stop the commands they start
        # next, not only the ones running now. A scope made after the cancel (notify) is free.
        self._children: weakref.WeakSet[ProcessTracker] = weakref.WeakSet()
        self.tag = uuid.uuid4().hex[:16]
        self.tags: tuple[str, ...] = (*parent.tags, self.tag) if parent else (self.tag,)
        self.cancelled = threading.Event()
        if parent is not None:
            with parent._lock:
                parent._children.add(self)

    def _add(self, command: _Command) -> None:
        with self._lock:
            self._commands.add(command)
        if self._parent is not None:
            self._parent._add(command)

    def _remove(self, command: _Command) -> None:
        with self._lock:
            self._commands.discard(command)
        if self._parent is not None:
            self._parent._remove(command)

    def _mark_cancelled(self) -> None:
        self.cancelled.set()
        with self._lock:
            children = list(self._children)
        for child in children:
            child._mark_cancelled()

    def cancel(self) -> list[psutil.Process]:
        """Stop every process this scope started, and refuse to start new ones.

        Every tracker below this one is cancelled too. Returns the processes that had to be
        ended; they are gone when this returns.
        """
        self._mark_cancelled()
        with self._lock:
            commands = list(self._commands)
        return self._end(commands)

    def close(self) -> list[psutil.Process]:
        """The scope is over: end any process its commands left running (a forgotten daemon)."""
        return proctree.end((), lambda: proctree.tagged(self.tag), GRACE_S)

    def _end(self, commands: Sequence[_Command]) -> list[psutil.Process]:
        def find() -> set[psutil.Process]:
            found = proctree.tagged(self.tag)
            for command in commands:
                found |= command.watched.members()
            return found

        live_groups = [c.popen.pid for c in commands if c.popen.returncode is None]
        return proctree.end(live_groups, find, GRACE_S)

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
            env=proctree.tag_env(dict(env), self.tags),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
        command = _Command(proc)
        self._add(command)
        if self.cancelled.is_set():  # a cancel between the check and the start missed it
            self._end([command])
        out: list[str] = []
        err: list[str] = []
        readers = [
            threading.Thread(target=_pump, args=(proc.stdout, out, on_stdout), daemon=True),
            threading.Thread(target=_pump, args=(proc.stderr, err, on_stderr), daemon=True),
        ]
        for t in readers:
            t.start()
        try:
            timed_out = not _wait_watching(command, timeout)
            if timed_out:
                self._end([command])
                proc.wait()
        finally:
            if proc.returncode is None:  # interrupted while waiting: leave nothing behind
                self._end([command])
                proc.wait()
            drained = time.monotonic() + PIPE_DRAIN_S
            for t in readers:  # a leftover holding the pipes must not hang us; close() ends it
                t.join(max(0.0, drained - time.monotonic()))
            self._remove(command)
        cancelled = timed_out or (self.cancelled.is_set() and proc.returncode != 0)
        return Completed(argv, proc.returncode, "".join(out), "".join(err), cancelled)


def _wait_watching(command: _Command, timeout: float | None) -> bool:
    """Wait for the command, remembering its descendants now and then; False on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    command.watched.scan()
    while True:
        step = SCAN_INTERVAL_S if deadline is None else min(SCAN_INTERVAL_S, deadline - time.monotonic())
        if step <= 0:
            return False
        try:
            command.popen.wait(step)
            return True
        except subprocess.TimeoutExpired:
            command.watched.scan()


def _pump(stream: object, sink: list[str], callback: Callable[[str], None] | None) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.append(line)
        if callback is not None:
            callback(line)
