"""What the generated workflows change when ``[tool.gopipe.cache] remote`` is set.

Kept apart from :mod:`gopipe.github.workflow` so the workflow builder only asks two questions:
which secrets the cache needs (they go to every step that runs stages, ci and cd alike, so the
cd job restores ci's build from the registry), and whether Go's build cache comes from the
remote (then the ``actions/cache`` tarball of ``~/.cache/go-build`` is not restored or saved:
``GOCACHEPROG`` fetches only the entries a build asks for).
"""

from __future__ import annotations

from collections.abc import Mapping

from gopipe.config import Config


def _table(config: Config) -> Mapping[str, object]:
    table = config.raw.get("cache", {})
    return table if isinstance(table, Mapping) else {}


def uses_remote_cache(config: Config) -> bool:
    return bool(_table(config).get("remote"))


def uses_remote_go_cache(config: Config) -> bool:
    """True when Go commands get their build cache through GOCACHEPROG from the remote."""
    return uses_remote_cache(config) and _table(config).get("go_build_cache", True) is not False


def remote_cache_secret_names(config: Config) -> set[str]:
    """The ``{ env = "NAME" }`` of the cache's password (the user name is not a secret)."""
    if not uses_remote_cache(config):
        return set()
    password = _table(config).get("password")
    if isinstance(password, Mapping) and isinstance(password.get("env"), str):
        return {str(password["env"])}
    return set()
