"""Confinement: every path a config value, a template or another run's output names.

A value such as ``output = "{name}/{name}"``, an image name, an archive glob or an artifact
path recorded by an earlier run is only a *request*: it is rendered first, then resolved
(symlinks included) and checked against the directory it must stay in. Reading is confined
to the repository, writing to ``dist/`` (or a gopipe-owned directory below it), and deleting
to what gopipe created itself below a gopipe-owned directory. A value that leaves its
directory is a :class:`~gopipe.errors.ConfigError` naming the key, so bad input stops with
exit code 2 before anything is touched.

Deliberately not confined (they name the host's tools and trust anchors, not project files):
executables (``kubectl = "/usr/local/bin/kubectl"``), secret files (``{ file = "/run/secrets/x" }``),
CA certificate files and a builder's own storage directories.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

from gopipe.artifacts import Artifact
from gopipe.errors import ConfigError


def _value(rel: str | os.PathLike[str]) -> str:
    return os.fspath(rel)


def _escape(file: str, key: str, value: str, where: str, fix: str) -> ConfigError:
    return ConfigError(file, key, f"{value!r} leaves {where}", fix)


def inside(
    base: Path,
    rel: str | os.PathLike[str],
    *,
    file: str,
    key: str,
    where: str = "the repository",
    fix: str = "use a relative path inside the repository, without '..' or a symlink that leaves it",
    strict: bool = False,
) -> Path:
    """``base / rel`` resolved (symlinks followed); a :class:`ConfigError` naming ``key`` unless it
    stays inside ``base``. ``strict`` refuses ``base`` itself (an output must be *below* it)."""
    value = _value(rel)
    if "\0" in value:
        raise ConfigError(file, key, "contains a NUL byte", "remove it")
    bound = base.resolve()
    path = (bound / value).resolve()  # an absolute value replaces ``bound``
    if not path.is_relative_to(bound) or (strict and path == bound):
        raise _escape(file, key, value, where, fix)
    return path


def output_path(
    root: Path,
    dist: Path,
    rel: str | os.PathLike[str],
    *,
    file: str,
    key: str,
    under: str = "",
) -> Path:
    """Where an output named ``rel`` goes: below ``dist/under`` (which must itself stay in ``dist``,
    which must stay in the repository), resolved; a :class:`ConfigError` naming ``key`` otherwise."""
    shown_dist = _shown(dist, root)
    fix = f"use a relative path below {shown_dist}/, without '..' or a symlink that leaves it"
    top = inside(root, dist, file=file, key=key, where="the repository", fix=fix, strict=True)
    base = inside(top, under, file=file, key=key, where=f"{shown_dist}/", fix=fix) if under else top
    where = f"{shown_dist}/{under}/" if under else f"{shown_dist}/"
    return inside(base, rel, file=file, key=key, where=where, fix=fix, strict=True)


def artifact_file(root: Path, artifact: Artifact, *, field: str = "path") -> Path:
    """The file an artifact recorded (``path``, or a path in ``extra`` such as ``layout``;
    relative to the repository), resolved and checked: an artifact from the stage cache, a
    merged part or a plugin that points outside the repository is a :class:`ConfigError`."""
    value = artifact.path if field == "path" else artifact.extra.get(field)
    if value is None:
        raise ValueError(f"{artifact.kind} artifact {artifact.name!r} has no {field}")
    return inside(
        root,
        str(value),
        file="artifacts",
        key=f"{artifact.kind} {artifact.name!r} {field} (recorded by {artifact.stage}.{artifact.provider})",
        fix="record only files inside the repository; delete dist/gopipe/cache if it came from there",
    )


def member_name(name: str) -> str:
    """``name`` if it is a safe relative POSIX path for an archive member, else ``ValueError``:
    an archive member never holds an absolute path, a drive, ``..`` or an empty part."""
    pure = PurePosixPath(name)
    if (
        not name
        or "\0" in name
        or "\\" in name
        or pure.is_absolute()
        or (len(name) > 1 and name[1] == ":")
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise ValueError(f"unsafe archive member name {name!r}")
    return name


def remove_owned(path: Path, *, within: Path) -> None:
    """Delete ``path`` (a file or a tree gopipe created) if it lies strictly inside ``within``,
    a gopipe-owned directory; a symlink is removed itself, never followed. Anything else is a
    bug in the caller: ``ValueError``, nothing deleted."""
    bound = within.resolve()
    target = path.parent.resolve() / path.name  # the last part is not followed
    if path.name in ("", ".", "..") or not target.is_relative_to(bound) or target == bound:
        raise ValueError(f"refusing to delete {path}: not inside {within}")
    if target.is_symlink() or target.is_file():
        target.unlink(missing_ok=True)
    elif target.is_dir():
        shutil.rmtree(target)


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
