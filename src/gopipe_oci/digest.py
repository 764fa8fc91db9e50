"""Digests, canonical JSON and media types shared by the image builder and the registry client.

Everything that ends up in a blob goes through :func:`canonical_json` so that the same
Python objects always serialise to the same bytes (and therefore the same digest).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import IO, Any

MEDIA_TYPE_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_TYPE_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_TYPE_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_TYPE_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

INDEX_MEDIA_TYPES = (MEDIA_TYPE_INDEX, DOCKER_MANIFEST_LIST)
MANIFEST_MEDIA_TYPES = (MEDIA_TYPE_MANIFEST, DOCKER_MANIFEST)

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def sha256_digest(data: bytes) -> str:
    """Return the ``sha256:<hex>`` digest of *data*."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    """Validate a ``sha256:<hex>`` digest (it becomes a file name and a URL path)."""
    if not _DIGEST_RE.match(digest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return digest


def canonical_json(obj: Any) -> bytes:
    """Serialise *obj* deterministically: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class HashingWriter:
    """A write-only file object that hashes and counts what passes through it.

    Used twice per layer: once before gzip (the diff_id) and once after (the blob digest).
    """

    def __init__(self, sink: IO[bytes] | None = None) -> None:
        self._sink = sink
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        if self._sink is not None:
            self._sink.write(data)
        return len(data)

    def flush(self) -> None:
        if self._sink is not None:
            self._sink.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()
