"""Find and end every process a command started, however hard it tried to get away.

A process group covers the usual case, but a child that calls ``setsid`` (a test's daemon,
``setsid sleep``) leaves it, and a double-forked daemon is reparented to init and leaves
the process tree too. So a tracker casts three nets, all *before* anything is signalled
(a killed parent's orphans vanish from the tree at once):

- the tree under each running command, walked with psutil now;
- every descendant a periodic walk saw while the command ran (psutil identifies a process
  by pid *and* creation time, so a recycled pid is never mistaken for it);
- every process whose environment carries the tracker's tag in ``GOPIPE_PROCESS_TAGS``,
  which children inherit through any number of forks and ``setsid`` calls (Jenkins'
  ProcessTreeKiller finds build processes by the same kind of cookie).

Ending is SIGTERM (plus SIGCONT, so a stopped process gets it), a grace period, then
SIGKILL for whatever is still alive — rescanning first, so a process forked during the
grace period is not missed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable

import psutil

TAG_ENV = "GOPIPE_PROCESS_TAGS"
_POLL_S = 0.05
_KILL_WAIT_S = 2.0


class Watched:
    """One command's descendants, remembered while it runs (see :meth:`scan`)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.root: psutil.Process | None = _process(pid)
        self.seen: set[psutil.Process] = set()

    def scan(self) -> None:
        """Remember the current descendants, so a daemon that double-forks later is still known.

        Exited ones are forgotten (``go build`` starts thousands of short-lived compilers).
        """
        running = set(psutil.pids())
        self.seen = {p for p in self.seen if p.pid in running} | set(self._tree())

    def members(self) -> set[psutil.Process]:
        """The command itself (while it lives), its current tree and every descendant seen."""
        found = set(self._tree()) | self.seen
        if self.root is not None and _alive(self.root):
            found.add(self.root)
        return found

    def _tree(self) -> list[psutil.Process]:
        if self.root is None or not _alive(self.root):
            return []
        try:
            return self.root.children(recursive=True)
        except psutil.Error:
            return []


def tag_env(env: dict[str, str], tags: Iterable[str]) -> dict[str, str]:
    """``env`` with ``tags`` appended to ``GOPIPE_PROCESS_TAGS`` (an outer run's tags are kept)."""
    inherited = [t for t in env.get(TAG_ENV, "").split(",") if t]
    return {**env, TAG_ENV: ",".join([*inherited, *tags])}


def tagged(tag: str) -> set[psutil.Process]:
    """Every process (of any tree, any session) whose environment carries ``tag``."""
    found: set[psutil.Process] = set()
    for proc in psutil.process_iter():
        try:
            value = proc.environ().get(TAG_ENV, "")
        except (psutil.Error, OSError):  # gone, a zombie, or another user's process
            continue
        if tag in value.split(","):
            found.add(proc)
    return found


def end(groups: Iterable[int], find: Callable[[], set[psutil.Process]], grace: float) -> list[psutil.Process]:
    """Terminate ``groups`` and every process ``find`` returns; kill what outlives ``grace``.

    Returns the processes that were signalled; when it returns they are gone (or zombies
    waiting for init), unless they belong to another user.
    """
    groups = set(groups)
    targets = _safe(find())
    groups |= {p.pid for p in targets if _leads_group(p)}
    _signal(groups, targets, signal.SIGTERM)
    _signal(groups, targets, signal.SIGCONT)
    _wait_gone(targets, grace)
    survivors = _safe({p for p in targets | find() if _alive(p)})
    if survivors or groups:
        _signal(groups, survivors, signal.SIGKILL)
        _wait_gone(survivors, _KILL_WAIT_S)
    return sorted(targets | survivors, key=lambda p: p.pid)


def describe(procs: Iterable[psutil.Process]) -> str:
    """``pid 12 (sleep), pid 13 (sh)`` for a log line."""
    return ", ".join(f"pid {p.pid} ({_name(p)})" for p in procs)


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


def _alive(proc: psutil.Process) -> bool:
    """Running and not a zombie (a zombie is dead; only its exit status is left to collect)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _safe(procs: set[psutil.Process]) -> set[psutil.Process]:
    """Never this process or one of its ancestors, whatever a tag or a tree says."""
    mine = {os.getpid(), *(p.pid for p in _ancestors())}
    return {p for p in procs if p.pid not in mine and p.pid > 1 and _alive(p)}


def _ancestors() -> list[psutil.Process]:
    try:
        return psutil.Process().parents()
    except psutil.Error:
        return []


def _leads_group(proc: psutil.Process) -> bool:
    try:
        return os.getpgid(proc.pid) == proc.pid and proc.is_running()
    except (OSError, psutil.Error):
        return False


def _signal(groups: set[int], procs: Iterable[psutil.Process], sig: signal.Signals) -> None:
    mine = os.getpgrp()
    for group in groups:
        if group != mine:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, sig)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)  # psutil checks the pid was not recycled first


def _wait_gone(procs: set[psutil.Process], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(_POLL_S)


def _name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except psutil.Error:
        return "?"
