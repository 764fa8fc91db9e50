"""OCI image layout directories (``oci-layout``, ``index.json``, ``blobs/sha256/...``).

The writer builds into a fresh directory next to the target and swaps it in at the end, so a
layout never mixes blobs from two builds (which would break byte-identical rebuilds) and a
failed build leaves the previous layout untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from .digest import (
    MEDIA_TYPE_INDEX,
    HashingWriter,
    canonical_json,
    check_digest,
    sha256_digest,
)
from .platforms import Platform

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = b'{"imageLayoutVersion":"1.0.0"}'


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: Platform | None = None
    artifact_type: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Descriptor:
        plat = obj.get("platform")
        return cls(
            media_type=str(obj["mediaType"]),
            digest=check_digest(str(obj["digest"])),
            size=int(obj["size"]),
            annotations=dict(obj.get("annotations") or {}),
            platform=Platform.from_json(plat) if isinstance(plat, Mapping) else None,
            artifact_type=str(obj.get("artifactType", "")),
        )


class LayoutWriter:
    """Collects blobs in a staging directory; :meth:`commit` moves it to *root*."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.parent.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
        self.blobs = self.staging / "blobs" / "sha256"
        self.blobs.mkdir(parents=True)

    def blob_path(self, digest: str) -> Path:
        return self.blobs / check_digest(digest).split(":", 1)[1]

    def add_bytes(self, data: bytes, media_type: str, **kw: Any) -> Descriptor:
        digest = sha256_digest(data)
        path = self.blob_path(digest)
        if not path.exists():
            path.write_bytes(data)
        return Descriptor(media_type, digest, len(data), **kw)

    def add_json(self, obj: Any, media_type: str, **kw: Any) -> tuple[Descriptor, bytes]:
        data = canonical_json(obj)
        return self.add_bytes(data, media_type, **kw), data

    def copy_file(self, src: Path, media_type: str, **kw: Any) -> Descriptor:
        """Copy a file into the blob store, hashing it on the way."""
        tmp = self.scratch() / "copy.part"
        with src.open("rb") as fin, tmp.open("wb") as fout:
            writer = HashingWriter(fout)
            shutil.copyfileobj(fin, cast(IO[bytes], writer), 1 << 20)
        self.add_file(tmp, writer.digest)
        return Descriptor(media_type, writer.digest, writer.size, **kw)

    def add_file(self, src: Path, digest: str) -> None:
        """Move an already-hashed file (e.g. a freshly built layer) into the blob store."""
        dest = self.blob_path(digest)
        if dest.exists():
            src.unlink()
        else:
            os.replace(src, dest)

    def scratch(self) -> Path:
        """A directory for temporary files on the same file system (cheap renames)."""
        path = self.staging / "tmp"
        path.mkdir(exist_ok=True)
        return path

    def commit(self, manifests: Sequence[Descriptor]) -> None:
        """Write ``index.json``/``oci-layout`` and atomically replace the target directory."""
        shutil.rmtree(self.staging / "tmp", ignore_errors=True)
        index = {
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_INDEX,
            "manifests": [d.to_json() for d in manifests],
        }
        (self.staging / "index.json").write_bytes(canonical_json(index))
        (self.staging / "oci-layout").write_bytes(LAYOUT_FILE)
        for path in self.staging.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        self.staging.chmod(0o755)
        old = None
        if self.root.exists():
            old = self.root.with_name(f".{self.root.name}.old-{os.getpid()}")
            os.replace(self.root, old)
        os.replace(self.staging, self.root)
        if old is not None:
            shutil.rmtree(old)

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


@dataclass(frozen=True)
class Layout:
    """Read access to an OCI image layout directory."""

    root: Path

    @property
    def index(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.root / "index.json").read_bytes())
        return data

    def manifests(self) -> list[Descriptor]:
        return [Descriptor.from_json(m) for m in self.index.get("manifests", [])]

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / check_digest(digest).split(":", 1)[1]

    def read_blob(self, digest: str) -> bytes:
        data = self.blob_path(digest).read_bytes()
        if sha256_digest(data) != digest:
            raise ValueError(f"blob {digest} in {self.root} is corrupt")
        return data

    def read_json(self, digest: str) -> dict[str, Any]:
        obj: dict[str, Any] = json.loads(self.read_blob(digest))
        return obj

    def resolve(self, ref_name: str | None = None) -> Descriptor:
        """The top-level descriptor tagged *ref_name* (or the only image when ``None``)."""
        manifests = self.manifests()
        if ref_name is None:
            if len({d.digest for d in manifests}) != 1:
                raise ValueError(f"{self.root} holds {len(manifests)} images; name one")
            return manifests[0]
        for desc in manifests:
            if desc.annotations.get(REF_NAME) == ref_name:
                return desc
        raise KeyError(f"no image named {ref_name!r} in {self.root}")
