"""cosign's signature objects: blob ``.sig`` files and the tag-scheme signature image.

- A **blob signature** is base64 of the ASN.1 DER ECDSA P-256 signature over SHA-256 of the
  file: what ``cosign sign-blob --output-signature`` writes and ``cosign verify-blob
  --signature`` reads.
- An **image signature** is a "simple signing" JSON payload naming the repository and the
  manifest digest, signed the same way. cosign's tag scheme stores it in the image's
  repository under the tag ``sha256-<hex>.sig``: an OCI manifest whose layers are payloads
  (media type ``application/vnd.dev.cosign.simplesigning.v1+json``) each carrying its
  signature in the ``dev.cosignproject.cosign/signature`` annotation, and whose config lists
  the payload digests as ``diff_ids``. ``cosign verify --key`` finds it there.
- An **image attestation** is a DSSE envelope (an in-toto Statement about the image) stored
  the same way under ``sha256-<hex>.att``, one layer per envelope with media type
  ``application/vnd.dsse.envelope.v1+json`` and a ``predicateType`` annotation, where
  ``cosign verify-attestation --type slsaprovenance1`` (or ``cyclonedx``) finds it.

Pure functions over bytes; the registry calls are the provider's.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
PREDICATE_ANNOTATION = "predicateType"
CYCLONEDX_PREDICATE = "https://cyclonedx.org/bom"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
_ZERO_TIME = "0001-01-01T00:00:00Z"


def sign_bytes(data: bytes, key: Any) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    return base64.b64encode(key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()


def verifies(data: bytes, signature_b64: str, public_key: Any) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def sig_tag(digest: str, suffix: str = "sig") -> str:
    """``sha256:abc…`` -> ``sha256-abc….sig`` (``.att`` for attestations)."""
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}-{hexpart}.{suffix}"


def simple_signing_payload(repository: str, digest: str) -> bytes:
    """The payload cosign signs for an image (``repository`` = host/path, no tag)."""
    doc = {
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def payload_digest(payload: bytes) -> str:
    return "sha256:" + hashlib.sha256(payload).hexdigest()


def signature_manifest(layers: Sequence[Mapping[str, Any]]) -> tuple[bytes, bytes]:
    """(manifest, config) bytes for a signature image holding ``layers`` (descriptors)."""
    config = {
        "architecture": "",
        "created": _ZERO_TIME,
        "history": [{"created": _ZERO_TIME}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [str(layer["digest"]) for layer in layers]},
        "config": {},
    }
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "size": len(config_bytes),
            "digest": payload_digest(config_bytes),
        },
        "layers": [dict(layer) for layer in layers],
    }
    return json.dumps(manifest, separators=(",", ":")).encode(), config_bytes


def signature_layer(payload: bytes, signature_b64: str) -> dict[str, Any]:
    return {
        "mediaType": SIMPLE_SIGNING,
        "size": len(payload),
        "digest": payload_digest(payload),
        "annotations": {SIGNATURE_ANNOTATION: signature_b64},
    }


def attestation_layer(envelope: bytes, predicate_type: str) -> dict[str, Any]:
    """A DSSE envelope as a layer of the ``.att`` image, as ``cosign attest`` stores it."""
    return {
        "mediaType": DSSE_ENVELOPE,
        "size": len(envelope),
        "digest": payload_digest(envelope),
        "annotations": {SIGNATURE_ANNOTATION: "", PREDICATE_ANNOTATION: predicate_type},
    }


# -- OCI 1.1 referrers ---------------------------------------------------------------------------
SIGNATURE_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
IN_TOTO_ARTIFACT = "application/vnd.in-toto+json"
CYCLONEDX_ARTIFACT = "application/vnd.cyclonedx+json"
PREDICATE_TYPE_ANNOTATION = "in-toto.io/predicate-type"
KEY_ANNOTATION = "dev.gopipe.signing-key"  # sha256 of the signer's public key (DER)
IDENTITY_ANNOTATION = "dev.gopipe.signing-identity"  # a keyless signer's workflow@ref


def referrer_manifest(
    artifact_type: str, layer: Mapping[str, Any], subject: Mapping[str, Any], key_id: str
) -> tuple[bytes, bytes]:
    """(manifest, config) of an OCI 1.1 referrer of ``subject`` holding one ``layer``.

    ``artifactType`` is set, and the config's media type is the artifact type too (with a
    ``{}`` body), so registries that derive the type from the config (go-containerregistry's)
    list the same type as those that read ``artifactType``.
    """
    config = b"{}"
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": artifact_type, "size": len(config), "digest": payload_digest(config)},
        "layers": [dict(layer)],
        "subject": dict(subject),
        "annotations": {KEY_ANNOTATION: key_id},
    }
    return json.dumps(manifest, separators=(",", ":")).encode(), config
