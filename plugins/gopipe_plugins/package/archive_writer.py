"""Reproducible ``.tar.gz`` and ``.zip`` writers and the GoReleaser checksum file.

Same inputs, same bytes: entries are sorted, every mtime is the commit time, owners are
0/0 with empty names, modes are fixed (0755 executables and directories, 0644 the rest),
the gzip header has mtime 0 and no file name, and zip entries carry a fixed Unix
``external_attr`` and date. Nothing from the build machine (umask, user, clock) leaks in.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from gopipe.paths import member_name

Format = Literal["tar.gz", "zip"]
FILE_MODE = 0o644
EXEC_MODE = 0o755
DIR_MODE = 0o755
_ZIP_EPOCH_MIN = 315532800  # 1980-01-01T00:00:00Z: zip cannot store earlier dates


@dataclass(frozen=True)
class Entry:
    """A file to put into an archive at *name* (POSIX path inside the archive)."""

    name: str
    source: Path
    executable: bool = False

    @property
    def mode(self) -> int:
        return EXEC_MODE if self.executable else FILE_MODE


def _walk(entries: Sequence[Entry]) -> list[tuple[str, Entry | None]]:
    """Files plus their parent directories (``None``), sorted so parents come first."""
    items: dict[str, Entry | None] = {e.name: e for e in entries}
    for e in entries:
        for parent in PurePosixPath(e.name).parents:
            if str(parent) != ".":
                items.setdefault(str(parent), None)
    return sorted(items.items(), key=lambda kv: PurePosixPath(kv[0]).parts)


def _check(entries: Sequence[Entry]) -> list[Entry]:
    """Entries in archive order; ``ValueError`` for a duplicate or an unsafe member name (absolute,
    ``..``, empty part): an archive gopipe writes never extracts outside its directory."""
    names = [member_name(e.name) for e in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"two files map to the same archive path: {', '.join(dupes)}")
    return sorted(entries, key=lambda e: e.name)


DEFAULT_LEVEL = 6  # zlib's own default: ~3x faster than 9 on Go binaries for <1 % larger files


class _HashingFile:
    """Write-through to a file, hashing the bytes: the archive is hashed as it is written."""

    def __init__(self, sink: IO[bytes]) -> None:
        self._sink = sink
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return self._sink.write(data)

    def flush(self) -> None:
        self._sink.flush()


def write_tar_gz(
    path: Path, entries: Sequence[Entry], *, mtime: int, compresslevel: int = DEFAULT_LEVEL
) -> str:
    """Write a reproducible gzip-compressed PAX tar of *entries*; return its sha256.

    Streamed: each file goes from disk through tar and gzip to the output in chunks, never
    whole in memory, and the output is hashed on the way (zlib output does not depend on how
    its input is chunked, so the bytes are the same as compressing the tar in one piece).
    """
    ordered = _check(entries)
    with path.open("wb") as out:
        hashed = _HashingFile(out)
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=hashed, mtime=0, compresslevel=compresslevel) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for name, entry in _walk(ordered):
                info = tarfile.TarInfo(name)
                info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "", ""
                if entry is None:
                    info.type, info.mode = tarfile.DIRTYPE, DIR_MODE
                    tar.addfile(info)
                    continue
                with entry.source.open("rb") as src:
                    info.size, info.mode = os.fstat(src.fileno()).st_size, entry.mode
                    tar.addfile(info, src)
    return hashed.hash.hexdigest()


def write_zip(path: Path, entries: Sequence[Entry], *, mtime: int, compresslevel: int = DEFAULT_LEVEL) -> str:
    """Write a reproducible deflated zip of *entries* with Unix modes; return its sha256."""
    ordered = _check(entries)
    stamp = time.gmtime(max(mtime, _ZIP_EPOCH_MIN))[:6]
    with path.open("wb") as out, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, entry in _walk(ordered):
            if entry is None:
                info = zipfile.ZipInfo(name + "/", date_time=stamp)
                info.create_system = 3  # Unix, so external_attr's high word is a mode
                info.external_attr = (0o040000 | DIR_MODE) << 16 | 0x10  # 0x10: MS-DOS dir bit
                zf.writestr(info, b"")
                continue
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.create_system = 3
            info.external_attr = (0o100000 | entry.mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(
                info,
                entry.source.read_bytes(),
                compress_type=zipfile.ZIP_DEFLATED,
                compresslevel=compresslevel,
            )
    return sha256_of(path)  # zipfile seeks back to patch headers: hash what is on disk


def write_archive(
    path: Path, fmt: Format, entries: Sequence[Entry], *, mtime: int, compresslevel: int = DEFAULT_LEVEL
) -> str:
    """Write one archive; return its sha256."""
    if fmt == "zip":
        return write_zip(path, entries, mtime=mtime, compresslevel=compresslevel)
    return write_tar_gz(path, entries, mtime=mtime, compresslevel=compresslevel)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checksums_text(files: Iterable[tuple[str, str]]) -> str:
    """GoReleaser/``sha256sum`` format: ``<hex>  <name>`` per line, sorted by name."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(files))
