"""Version tags, read one way for the whole project.

Go names a module's versions by tags: ``v1.2.3`` for the module at the repository's top, and
``services/api/v1.2.3`` for the module in ``services/api`` (the module proxy's convention).
Build stamping, the release's changelog range and the monorepo's per-module versions all
read tags through :func:`version_tags` and :func:`parse_version_tag`, so a prefix means the
same thing everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

#: ``v1.2.3``, ``1.2.3``, ``v1.2.3-rc.1`` (semver; Go requires the ``v``, we also accept none).
_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


@dataclass(frozen=True, order=True)
class VersionTag:
    """One version tag: ``version`` orders tags, ``name`` is the tag as git spells it."""

    version: Version
    name: str
    prefix: str = ""

    @property
    def text(self) -> str:
        """The version without prefix and ``v`` (``1.2.3-rc.1``), as stamped into binaries."""
        bare = self.name[len(self.prefix) :]
        return bare[1:] if bare.startswith("v") else bare

    @property
    def prerelease(self) -> bool:
        return self.version.is_prerelease


def normalise_prefix(prefix: str) -> str:
    """``services/api`` and ``services/api/`` are the same prefix; the root module has none."""
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix and prefix != "." else ""


def parse_version_tag(name: str, prefix: str = "") -> VersionTag | None:
    """The tag as a version of the module at ``prefix``, or None if it is not one.

    A tag of another module (``services/web/v1.0.0`` when asking for ``services/api``) and, for
    the root module, any tag with a ``/`` in it are not versions of this module.
    """
    prefix = normalise_prefix(prefix)
    if not name.startswith(prefix):
        return None
    bare = name[len(prefix) :]
    match = _SEMVER.match(bare)
    if not match:
        return None
    major, minor, patch, pre = match.groups()
    try:
        version = Version(f"{major}.{minor}.{patch}" + (f"-{pre}" if pre else ""))
    except InvalidVersion:  # semver pre-release words packaging cannot order ("-beta.x.y")
        version = Version(f"{major}.{minor}.{patch}rc0")
    return VersionTag(version=version, name=name, prefix=prefix)


def version_tags(names: list[str] | tuple[str, ...], prefix: str = "") -> list[VersionTag]:
    """The version tags of the module at ``prefix`` among ``names``, newest first."""
    found = (parse_version_tag(n, prefix) for n in names)
    return sorted((t for t in found if t is not None), reverse=True)


def next_patch(tags: list[VersionTag]) -> str:
    """The version after the newest release (``1.2.4`` after ``v1.2.3``), ``0.0.1`` with none.

    Snapshot builds are named ``{next_patch}-SNAPSHOT-{short_commit}``, as GoReleaser does.
    """
    releases = [t for t in tags if not t.prerelease]
    if not releases:
        return "0.0.1"
    major, minor, patch = releases[0].version.release[:3]
    return f"{major}.{minor}.{patch + 1}"
