"""The files a release carries, and its notes: shared by every publisher (GitHub, GitLab …).

An asset's name is the file's own name, and it must be a plain file name: a server turns
``../x`` or ``a/b`` into something else (GitHub renames, GitLab rejects), so a name that would
change is refused before anything is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gopipe.artifacts import sha256_file
from gopipe.context import ProviderContext
from gopipe.errors import ConfigError
from gopipe.paths import artifact_file

#: what a release carries by default: archives and their checksums, SBOMs, OS packages, charts
DEFAULT_KINDS: tuple[str, ...] = ("archive", "source-archive", "checksums", "sbom", "package", "helm-chart")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~-]{0,254}$")


@dataclass(frozen=True)
class Asset:
    """One file to attach: its name on the release, where it is, its SHA-256 and kind."""

    name: str
    path: Path
    sha256: str
    kind: str

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def safe_asset_name(name: str) -> str | None:
    """``name`` if servers keep it as it is, else None."""
    return name if _SAFE_NAME.fullmatch(name) and ".." not in name else None


def release_assets(ctx: ProviderContext[Any], kinds: tuple[str, ...]) -> list[Asset]:
    """This run's files of ``kinds``, each once, in kind order; a name clash or an unsafe name fails."""
    assets: dict[str, Asset] = {}
    for kind in kinds:
        for artifact in ctx.artifacts.of_kind(kind):
            if artifact.path is None:
                continue
            try:
                path = artifact_file(ctx.root, artifact)
            except ConfigError as exc:
                ctx.fail(str(exc))
            name = safe_asset_name(path.name)
            if name is None:
                ctx.fail(
                    f"{kind} {artifact.name!r}: {path.name!r} is not a plain file name a release can carry"
                )
            digest = sha256_file(path)
            if artifact.sha256 and artifact.sha256 != digest:
                ctx.fail(f"{path.name} changed after it was recorded (sha256 {digest[:12]}…)")
            if name in assets and assets[name].sha256 != digest:
                ctx.fail(f"two different files are named {name} ({assets[name].kind} and {kind})")
            assets.setdefault(name, Asset(name, path, digest, kind))
    return list(assets.values())


def release_notes(ctx: ProviderContext[Any]) -> str:
    """The changelog the core wrote before the stages, or "" when it is turned off."""
    for artifact in ctx.artifacts.of_kind("changelog"):
        if artifact.path:
            return artifact_file(ctx.root, artifact).read_text(encoding="utf-8")
    return ""
