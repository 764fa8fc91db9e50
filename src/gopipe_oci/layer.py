"""Reproducible layer tarballs.

A layer is built from a mapping ``in-image path -> entry``. Everything that usually makes
tarballs differ between two builds of the same content is pinned: entries are sorted, every
parent directory is added explicitly, owner/group/mode are fixed, every mtime is the given
epoch (the commit time), user/group names are empty, the GNU tar format is used (no PAX
headers, no xattrs), and gzip is written with mtime 0 and no file name. The same inputs
therefore give the same bytes, hence the same ``diff_id`` (uncompressed digest) and the same
blob digest (compressed; stable for one zlib version, which is what Python ships with).
"""

from __future__ import annotations

import gzip
import io
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from .digest import MEDIA_TYPE_LAYER_GZIP, HashingWriter

_CHUNK = 1 << 20


@dataclass(frozen=True)
class File:
    """A regular file from disk (``Path``) or from memory (``bytes``)."""

    source: Path | bytes
    mode: int = 0o644
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class Dir:
    """An (empty) directory; use a ``Path`` value to copy a whole tree instead."""

    mode: int = 0o755
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class Symlink:
    target: str
    uid: int = 0
    gid: int = 0


Entry = File | Dir | Symlink
#: What a layer mapping may hold: an explicit entry, raw bytes (a 0644 file) or a host path
#: (a file keeps only its executable bit: 0755 or 0644; a directory is copied recursively,
#: symlinks inside it are kept as symlinks).
EntrySource = Entry | Path | bytes


@dataclass(frozen=True)
class Layer:
    """A built layer blob (gzip-compressed tar) and the facts a manifest/config needs."""

    path: Path
    digest: str
    size: int
    diff_id: str
    uncompressed_size: int
    media_type: str = MEDIA_TYPE_LAYER_GZIP


def normalize_path(path: str) -> str:
    """Turn an in-image path into a tar member name (relative, normalised, no ``..``)."""
    norm = posixpath.normpath("/" + path.strip()).lstrip("/")
    if not norm or norm == "." or ".." in path.split("/"):
        raise ValueError(f"invalid in-image path: {path!r}")
    return norm


def _host_entry(path: Path) -> Entry:
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return Symlink(os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return Dir()
    if stat.S_ISREG(st.st_mode):
        return File(path, mode=0o755 if st.st_mode & 0o111 else 0o644)
    raise ValueError(f"unsupported file type: {path}")


def expand_entries(entries: Mapping[str, EntrySource]) -> dict[str, Entry]:
    """Resolve host paths/bytes into explicit entries and add missing parent directories."""
    out: dict[str, Entry] = {}
    for raw_name, value in entries.items():
        name = normalize_path(raw_name)
        if isinstance(value, bytes):
            out[name] = File(value)
        elif isinstance(value, Path):
            out[name] = _host_entry(value)
            if value.is_dir() and not value.is_symlink():
                for root, dirs, files in os.walk(value):
                    dirs.sort()
                    for child in sorted(dirs + files):
                        host = Path(root, child)
                        rel = host.relative_to(value).as_posix()
                        out[f"{name}/{rel}"] = _host_entry(host)
        else:
            out[name] = value
    for name in list(out):
        parent = posixpath.dirname(name)
        while parent and parent not in out:
            out[parent] = Dir()
            parent = posixpath.dirname(parent)
    return out


def _members(entries: dict[str, Entry], epoch: int) -> Iterator[tuple[tarfile.TarInfo, Path | bytes | None]]:
    for name in sorted(entries):
        entry = entries[name]
        info = tarfile.TarInfo(name)
        info.mtime = epoch
        info.uid, info.gid = entry.uid, entry.gid
        info.uname = info.gname = ""
        data: Path | bytes | None = None
        if isinstance(entry, File):
            info.type = tarfile.REGTYPE
            info.mode = entry.mode
            data = entry.source
            info.size = len(data) if isinstance(data, bytes) else data.stat().st_size
        elif isinstance(entry, Dir):
            info.type = tarfile.DIRTYPE
            info.mode = entry.mode
        else:
            info.type = tarfile.SYMTYPE
            info.mode = 0o777
            info.linkname = entry.target
        yield info, data


def build_layer(
    entries: Mapping[str, EntrySource],
    out: Path,
    *,
    epoch: int,
    compresslevel: int = 6,
) -> Layer:
    """Write a reproducible ``tar+gzip`` layer for *entries* to *out* and return its digests."""
    resolved = expand_entries(entries)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fh:
        compressed = HashingWriter(fh)
        gz = gzip.GzipFile(
            filename="",
            mode="wb",
            compresslevel=compresslevel,
            fileobj=cast(IO[bytes], compressed),
            mtime=0,
        )
        with gz:
            raw = HashingWriter(cast(IO[bytes], gz))
            # 1 MiB writes instead of tarfile's 10 KiB: zlib and sha256 release the GIL per
            # call, so two platforms' layers then compress in parallel instead of taking turns
            # (deflate's output does not depend on how its input is split: same bytes)
            with tarfile.open(
                fileobj=cast(IO[bytes], raw),
                mode="w|",
                format=tarfile.GNU_FORMAT,
                bufsize=_CHUNK,
            ) as tar:
                tar.copybufsize = _CHUNK  # type: ignore[attr-defined]  # (missing from typeshed)
                for info, data in _members(resolved, epoch):
                    if isinstance(data, Path):
                        with data.open("rb") as src:
                            tar.addfile(info, src)
                    elif isinstance(data, bytes):
                        tar.addfile(info, io.BytesIO(data))
                    else:
                        tar.addfile(info)
    return Layer(
        path=out,
        digest=compressed.digest,
        size=compressed.size,
        diff_id=raw.digest,
        uncompressed_size=raw.size,
    )
