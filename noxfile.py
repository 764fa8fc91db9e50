"""gopipe's own sessions: ``tests``, ``lint`` (ruff check, ruff format --check, mypy) and ``demo``.

They run in the current environment (``python=False``): ``scripts/install-test-deps``
or ``pip install -e .`` prepares it; CI (``.ci/run``) runs ``nox -s lint`` then ``nox -s tests``.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """The whole test suite, real services included (see scripts/install-test-deps)."""
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and mypy --strict over src/, plugins/ (configured in pyproject)."""
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(python=False)
def demo(session: nox.Session) -> None:
    """Run gopipe end to end on examples/hello with embedded defaults (no account anywhere)."""
    session.run("python", "scripts/demo.py", *session.posargs)
