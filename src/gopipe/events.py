"""``dist/gopipe/events.jsonl``: one JSON line per event, greppable by incident tooling."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from gopipe.secrets import Redactor


class EventLog:
    """Append-only, masked, thread-safe event writer."""

    def __init__(self, path: Path, redactor: Redactor, sha: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh: TextIO = path.open("w", encoding="utf-8")
        self._redact = redactor
        self._sha = sha
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        record = {
            "ts": round(time.time(), 3),
            "event": event,
            "sha": self._sha,
            **{k: v for k, v in fields.items() if v is not None},
        }
        line = json.dumps(self._redact.redact_obj(record), ensure_ascii=False, default=str)
        with self._lock:
            if not self._fh.closed:
                self._fh.write(line + "\n")
                self._fh.flush()

    def close(self) -> None:
        with self._lock:
            self._fh.close()
