"""gopipe: Go CI/CD pipelines as pluggable nox sessions.

The data flow is visible in the layout:
config (``gopipe.config``) → plan (``gopipe.plan``) → stages (``gopipe.runner``) →
providers (``gopipe.types``, the default plugins) → artifacts (``gopipe.artifacts``) →
report (``gopipe.report``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gopipe.hookspecs import hookimpl

__all__ = ["__version__", "hookimpl"]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``hookimpl`` on first use: importing pluggy would slow every command, ``--help`` too."""
    if name == "hookimpl":
        from gopipe.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module 'gopipe' has no attribute {name!r}")
