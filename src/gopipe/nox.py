"""Two lines in a Go repo's noxfile.py give it gopipe's sessions::

    import gopipe.nox
    gopipe.nox.install()

Sessions ``ci``, ``cd`` and one per stage run in the current environment (no virtualenv)
and in-process, so ``nox -s ci`` costs one Python start-up; ``nox -s ci -- ARGS`` passes
ARGS to ``gopipe run``.
"""

from __future__ import annotations

from typing import Any

import nox

from gopipe.stages import PIPELINES, Stage

SESSIONS: tuple[str, ...] = (*PIPELINES, *(s.value for s in Stage))
# exit codes a caller acts on: 2 = bad config or usage, 130 = cancelled (CI shows "cancelled")
_KEPT_EXIT_CODES = (2, 130)


def install(prefix: str = "", sessions: tuple[str, ...] = SESSIONS) -> None:
    """Register gopipe's sessions with nox; ``prefix`` avoids clashes with your own."""
    for target in sessions:
        nox.session(name=f"{prefix}{target}", python=False, default=target == "ci")(_session_for(target))


def _session_for(target: str) -> Any:
    def session(session: nox.Session) -> None:
        from gopipe.cli import main

        code = main(["run", target, *session.posargs])
        if code in _KEPT_EXIT_CODES:  # nox would turn them into its generic 1
            raise SystemExit(code)
        if code != 0:
            session.error(f"gopipe {target} failed (exit {code}); see dist/gopipe/report.json")

    session.__doc__ = f"gopipe: run {target}"
    session.__name__ = target
    return session
