"""Check an image's cosign signature and SLSA provenance in its registry, with a public key.

What ``cosign verify --key`` and ``verify-attestation --type slsaprovenance1`` check for the
tag scheme, done in-process so deploy can refuse an image before applying anything:

- ``<repo>:sha256-<hex>.sig`` holds a simple-signing layer whose blob has the layer's digest,
  names this very digest and repository, and whose signature verifies with the key;
- ``<repo>:sha256-<hex>.att`` holds a DSSE layer of predicate type SLSA provenance v1 whose
  envelope verifies with the key and whose statement's subject is this digest.

A signature or statement about *another* digest (a signature image copied from elsewhere)
does not count, nor does one whose blob does not match its descriptor.
"""

from __future__ import annotations

import json
from typing import Any

from gopipe_oci import RegistryClient, RegistryError
from gopipe_plugins._common import cosign_sig, dsse
from gopipe_plugins._common.provenance import PREDICATE_TYPE

_MAX_LAYERS = 64


def load_public_key(pem: bytes) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem)
    except ValueError:
        raise ValueError("not a PEM public key (cosign.pub)") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("not an ECDSA P-256 public key")
    return key


def _layers(client: RegistryClient, repo: str, tag: str) -> list[dict[str, Any]]:
    if client.head_manifest(repo, tag) is None:
        return []
    layers = json.loads(client.get_manifest(repo, tag).data).get("layers") or []
    return [dict(x) for x in layers[:_MAX_LAYERS] if isinstance(x, dict)]


def _blob(client: RegistryClient, repo: str, layer: dict[str, Any]) -> bytes | None:
    digest = str(layer.get("digest", ""))
    if not digest.startswith("sha256:") or int(layer.get("size") or 0) > 16 << 20:
        return None
    data = client.get_blob(repo, digest)
    return data if cosign_sig.payload_digest(data) == digest else None


def signature_problem(
    client: RegistryClient, repo: str, repository: str, digest: str, key: Any
) -> str | None:
    """None when a signature of ``digest`` by ``key`` is stored; else what is wrong."""
    layers = _layers(client, repo, cosign_sig.sig_tag(digest))
    if not layers:
        return "no cosign signature"
    elsewhere = False
    for layer in layers:
        if layer.get("mediaType") != cosign_sig.SIMPLE_SIGNING:
            continue
        payload = _blob(client, repo, layer)
        sig = str((layer.get("annotations") or {}).get(cosign_sig.SIGNATURE_ANNOTATION, ""))
        if payload is None or not cosign_sig.verifies(payload, sig, key):
            continue
        critical = json.loads(payload).get("critical") or {}
        if (critical.get("image") or {}).get("docker-manifest-digest") != digest:
            elsewhere = True
            continue
        if (critical.get("identity") or {}).get("docker-reference") not in (repository, None):
            elsewhere = True
            continue
        return None
    if elsewhere:
        return "its signature names another image (a signature copied from elsewhere)"
    return "no signature by the configured key"


def provenance_problem(client: RegistryClient, repo: str, digest: str, key: Any) -> str | None:
    """None when a SLSA v1 provenance statement about ``digest`` signed by ``key`` is stored."""
    layers = _layers(client, repo, cosign_sig.sig_tag(digest, "att"))
    for layer in layers:
        annotations = layer.get("annotations") or {}
        if annotations.get(cosign_sig.PREDICATE_ANNOTATION) != PREDICATE_TYPE:
            continue
        data = _blob(client, repo, layer)
        if data is None:
            continue
        try:
            payload = dsse.verify(json.loads(data), key)
            statement = json.loads(payload)
        except ValueError:
            continue
        subjects = [s.get("digest", {}).get("sha256") for s in statement.get("subject") or []]
        if statement.get("predicateType") == PREDICATE_TYPE and digest.removeprefix("sha256:") in subjects:
            return None
    return "no SLSA provenance about this digest signed by the configured key"


def image_problems(client: RegistryClient, repo: str, repository: str, digest: str, key: Any) -> list[str]:
    try:
        found = [
            signature_problem(client, repo, repository, digest, key),
            provenance_problem(client, repo, digest, key),
        ]
    except (RegistryError, OSError, ValueError) as exc:
        return [f"cannot read its signatures: {exc}"]
    return [p for p in found if p]
