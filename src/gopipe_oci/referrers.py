"""OCI 1.1 referrers: the registry's referrers API where it has one, the tag schema otherwise.

The distribution spec 1.1 lets a client attach a manifest to another one with ``subject``.
A registry with the referrers API (``GET /v2/<name>/referrers/<digest>``) indexes it by
itself. On one without it (docker-registry 2.8), the spec's *referrers tag schema* applies:
the client keeps an image index tagged ``<alg>-<hex>`` (``sha256-abc…``) that lists one
descriptor per referrer (``mediaType``, ``digest``, ``size``, ``artifactType``,
``annotations``). cosign v3, oras and go-containerregistry read and write both; so do these
functions, which is how a signature lands where ``cosign verify`` and ``oras discover``
look on every registry.

Updating the tag-schema index is a read-modify-write: two writers at the same instant can
lose one descriptor (the spec accepts this; the referrer manifest itself is still stored
and a rerun adds it again).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .digest import INDEX_MEDIA_TYPES, MEDIA_TYPE_INDEX, sha256_digest

if TYPE_CHECKING:
    from .registry import RegistryClient

MAX_LISTED = 256  # descriptors read from a tag-schema index; a registry's JSON is not trusted


def fallback_tag(digest: str) -> str:
    """``sha256:abc…`` -> ``sha256-abc…``: the referrers tag schema's tag for ``digest``."""
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}-{hexpart}"


def _descriptors(value: object) -> list[dict[str, Any]]:
    entries = value.get("manifests") if isinstance(value, dict) else None
    if not isinstance(entries, list):
        return []
    return [dict(m) for m in entries[:MAX_LISTED] if isinstance(m, dict)]


def _fallback_index(client: RegistryClient, repo: str, digest: str) -> list[dict[str, Any]]:
    tag = fallback_tag(digest)
    if client.head_manifest(repo, tag) is None:
        return []
    index = client.get_manifest(repo, tag)
    if index.media_type not in INDEX_MEDIA_TYPES:
        return []
    try:
        return _descriptors(json.loads(index.data))
    except ValueError:
        return []


def list_referrers(client: RegistryClient, repo: str, digest: str) -> tuple[list[dict[str, Any]], bool]:
    """(the descriptors of ``digest``'s referrers, whether the registry has the API).

    Unfiltered: a descriptor only says what the lister claims; callers fetch the manifest
    and check its ``subject`` before trusting it."""
    listed = client.referrers(repo, digest)
    if listed is not None:
        return [dict(m) for m in listed[:MAX_LISTED]], True
    return _fallback_index(client, repo, digest), False


def descriptor_of(manifest: bytes, media_type: str) -> dict[str, Any]:
    """The referrers-list entry for ``manifest``: its type is ``artifactType``, or the
    config's media type when it has none (the spec's rule)."""
    doc = json.loads(manifest)
    artifact_type = doc.get("artifactType") or (doc.get("config") or {}).get("mediaType")
    entry: dict[str, Any] = {
        "mediaType": media_type,
        "digest": sha256_digest(manifest),
        "size": len(manifest),
    }
    if artifact_type:
        entry["artifactType"] = artifact_type
    if doc.get("annotations"):
        entry["annotations"] = doc["annotations"]
    return entry


def attach(
    client: RegistryClient, repo: str, subject: str, manifest: bytes, media_type: str, *, api: bool
) -> str:
    """Push ``manifest`` (whose ``subject`` is ``subject``) by digest; without the referrers
    API (``api`` from :func:`list_referrers`), also list it in the tag-schema index."""
    pushed = client.put_manifest(repo, sha256_digest(manifest), manifest, media_type)
    if api:
        return pushed
    entries = [e for e in _fallback_index(client, repo, subject) if e.get("digest") != pushed]
    entries.append(descriptor_of(manifest, media_type))
    index = {"schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": entries}
    data = json.dumps(index, separators=(",", ":")).encode()
    client.put_manifest(repo, fallback_tag(subject), data, MEDIA_TYPE_INDEX)
    return pushed
