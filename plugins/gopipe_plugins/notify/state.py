"""Which event a run is (success, failure, fixed, cancelled), and the memory "fixed" needs.

"fixed" means: this run succeeded and the previous run of the same pipeline on the same
repository and branch did not. The previous status is remembered in gopipe's cache
directory (``$GOPIPE_CACHE`` or ``~/.cache/gopipe``), file ``notify/last-status.json``,
keyed by ``<remote URL or repo path>#<branch or tag>#<pipeline>``. The cache survives
``dist/`` being wiped between runs; CI runners that start clean need the cache directory
restored (e.g. ``actions/cache`` on ``~/.cache/gopipe``) for "fixed" to work there.
The status is written when the run finishes (``gopipe_run_finished``), after notify read it.
Writers take a file lock and replace the file atomically, so concurrent runs cannot
corrupt it; the last one to finish wins.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from gopipe import hookimpl
from gopipe.context import RunContext
from gopipe.git import GitInfo
from gopipe.gotools import cache_root
from gopipe.report import Report, RunStatus
from gopipe_plugins.notify.labels import Event

_MAX_ENTRIES = 500  # oldest keys are dropped beyond this, so the file stays small


def state_file() -> Path:
    return cache_root() / "notify" / "last-status.json"


def state_key(git: GitInfo, root: Path, pipeline: str) -> str:
    where = git.remote_url or str(root)
    return f"{where}#{git.branch or git.tag or 'detached'}#{pipeline}"


def previous_status(git: GitInfo, root: Path, pipeline: str) -> str | None:
    """Status of the last finished run with the same key, or None if unknown."""
    entry = _load(state_file()).get(state_key(git, root, pipeline))
    return str(entry["status"]) if isinstance(entry, dict) and "status" in entry else None


def record_status(run: RunContext, report: Report) -> None:
    """Remember this run's final status for the next run's "fixed" decision.

    Cancelled runs are not recorded: they say nothing about whether the branch is broken,
    so failed → cancelled → success still counts as fixed.
    """
    if report.status == "cancelled":
        return
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_suffix(".lock")):
        data = _load(path)
        data[state_key(run.git, run.root, report.pipeline)] = {
            "status": report.status,
            "sha": run.git.sha,
            "at": round(time.time(), 3),
        }
        if len(data) > _MAX_ENTRIES:
            newest = sorted(data.items(), key=lambda kv: _at(kv[1]), reverse=True)
            data = dict(newest[:_MAX_ENTRIES])
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def event_for(status: RunStatus, previous: str | None) -> Event:
    """Map a run status (and the previous run's) to a notification event."""
    if status == "success":
        return "fixed" if previous == "failed" else "success"
    return "failure" if status == "failed" else "cancelled"


def wanted(event: Event, on: Iterable[str]) -> bool:
    """``on`` filter: "fixed" is a kind of success, so ``on = ["success"]`` includes it."""
    chosen = set(on)
    return event in chosen or (event == "fixed" and "success" in chosen)


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _at(entry: object) -> float:
    value = entry.get("at") if isinstance(entry, dict) else None
    return float(value) if isinstance(value, (int, float)) else 0.0


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@hookimpl
def gopipe_run_finished(run: RunContext, report: Report) -> None:
    """Remember the final status; the next run's notifiers read it to detect "fixed"."""
    record_status(run, report)
