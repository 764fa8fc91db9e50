"""One run at a time per output directory: ``dist/gopipe/.lock``.

Two runs in the same repository would interleave ``events.jsonl``, overwrite each other's
report and race on the stage cache. The second run waits for the first with a message, up to
``GOPIPE_LOCK_TIMEOUT`` seconds (default 900), then fails clearly without touching the other
run's files. The lock is an advisory ``flock`` on an open file, so it is released by the
kernel when a run dies, whatever kills it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO

DEFAULT_WAIT_S = 900.0
LOCK_FILE = ".lock"


class LockBusy(Exception):
    """Another run held the lock for longer than we were willing to wait."""

    def __init__(self, path: Path, holder: str, waited: float) -> None:
        super().__init__(f"another gopipe run ({holder}) still holds {path} after {waited:.0f}s")
        self.path = path
        self.holder = holder


def wait_limit(environ: Mapping[str, str]) -> float:
    try:
        value = float(environ.get("GOPIPE_LOCK_TIMEOUT", DEFAULT_WAIT_S))
    except ValueError:
        return DEFAULT_WAIT_S
    return value if 0 <= value < 7 * 24 * 3600 else DEFAULT_WAIT_S


@contextlib.contextmanager
def run_lock(out: Path, *, wait_s: float, say: Callable[[str], None]) -> Iterator[None]:
    """Hold the lock on ``out`` for the block; wait (saying so) while another run holds it."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_FILE
    fh: IO[str] = path.open("a+", encoding="utf-8")
    try:
        if not _try_lock(fh):
            holder = _holder(fh)
            say(f"another gopipe run ({holder}) is using {path.parent}; waiting up to {wait_s:.0f}s")
            start = time.monotonic()
            while not _try_lock(fh):
                if time.monotonic() - start >= wait_s:
                    raise LockBusy(path, holder, time.monotonic() - start)
                time.sleep(0.2)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the flock


def _try_lock(fh: IO[str]) -> bool:
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(fh: IO[str]) -> str:
    fh.seek(0)
    return fh.read().strip() or "pid unknown"
