"""gopipe: Go CI/CD pipelines as pluggable nox sessions.

The data flow is visible in the layout:
config (``gopipe.config``) → plan (``gopipe.plan``) → stages (``gopipe.runner``) →
providers (``gopipe.types``, the default plugins) → artifacts (``gopipe.artifacts``) →
report (``gopipe.report``).
"""

from gopipe.hookspecs import hookimpl

__all__ = ["__version__", "hookimpl"]

__version__ = "0.1.0"
