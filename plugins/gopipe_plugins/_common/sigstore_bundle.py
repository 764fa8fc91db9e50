"""Sigstore bundles (v0.3) attached to an image as OCI 1.1 referrers: cosign v3's own format.

cosign v3 signs and attests into Sigstore bundles and looks for them through the registry's
referrers API before its older tag scheme. A bundle is JSON (the protobuf-specs
``Bundle`` message in its JSON form):

- ``mediaType``: ``application/vnd.dev.sigstore.bundle.v0.3+json``;
- ``verificationMaterial.publicKey.hint``: which key signed (here base64 of the SHA-256 of
  the key's DER SubjectPublicKeyInfo; a hint only: the verifier brings the key). There are
  no ``tlogEntries``: key-based signing here writes no transparency log, which is why
  ``cosign verify`` needs ``--insecure-ignore-tlog=true``;
- ``dsseEnvelope``: the signed in-toto statement. An image *signature* is a statement about
  the manifest digest with predicate type ``https://sigstore.dev/cosign/sign/v1`` and an empty
  predicate (what cosign v3 ``sign`` writes); an *attestation* is the statement itself
  (SLSA provenance, CycloneDX).

It is stored as the single layer of an OCI image manifest whose ``artifactType`` is the
bundle media type, with ``subject`` = the signed manifest and the annotations cosign's
bundle specification names (``dev.sigstore.bundle.content``, ``...predicateType``,
``org.opencontainers.image.created``). The config is the OCI empty descriptor, as the
specification says; registries that list a referrer's type from its config (the test
registry, go-containerregistry's) then show ``application/vnd.oci.empty.v1+json``, which
is why callers match bundles by the annotations too.

Pure functions over bytes; the registry calls are the provider's.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from gopipe_plugins._common import dsse

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
CONTENT_ANNOTATION = "dev.sigstore.bundle.content"
PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
CREATED_ANNOTATION = "org.opencontainers.image.created"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def public_key_hint(public_key: Any) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    der = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def signature_statement(digest: str, name: str | None = None) -> bytes:
    """The statement cosign v3 signs for an image: its manifest digest, the sign predicate.
    ``name`` (the repository) is for signers that require a subject name (sigstore-python)."""
    subject: dict[str, Any] = {"digest": {"sha256": digest.removeprefix("sha256:")}}
    if name is not None:
        subject = {"name": name, **subject}
    statement = {
        "_type": STATEMENT_V1,
        "subject": [subject],
        "predicateType": SIGN_PREDICATE,
        "predicate": {},
    }
    return dsse.canonical(statement)


def make_bundle(envelope: Mapping[str, Any], public_key: Any) -> bytes:
    """A v0.3 bundle around a DSSE ``envelope``, with the signer's key hint, no log entries."""
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": public_key_hint(public_key)}},
        "dsseEnvelope": {
            "payload": envelope["payload"],
            "payloadType": envelope["payloadType"],
            "signatures": [{"sig": s["sig"]} for s in envelope["signatures"]],
        },
    }
    return json.dumps(bundle, separators=(",", ":")).encode()


def bundle_envelope(data: bytes) -> dict[str, Any]:
    """The DSSE envelope inside a bundle's bytes; ``ValueError`` when it is not a v0.3 DSSE bundle."""
    try:
        bundle = json.loads(data)
        envelope = bundle["dsseEnvelope"]
    except (ValueError, KeyError, TypeError):
        raise ValueError("not a Sigstore bundle with a DSSE envelope") from None
    if not isinstance(bundle, dict) or bundle.get("mediaType") != BUNDLE_MEDIA_TYPE:
        raise ValueError("not a Sigstore v0.3 bundle")
    if not isinstance(envelope, dict):
        raise ValueError("not a Sigstore bundle with a DSSE envelope")
    return envelope


def bundle_manifest(
    bundle: bytes,
    subject: Mapping[str, Any],
    predicate_type: str,
    created: str,
    extra_annotations: Mapping[str, str] | None = None,
) -> bytes:
    """The referrer manifest holding ``bundle`` about ``subject`` (a descriptor)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_MEDIA_TYPE,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "size": len(EMPTY_CONFIG), "digest": _digest(EMPTY_CONFIG)},
        "layers": [{"mediaType": BUNDLE_MEDIA_TYPE, "size": len(bundle), "digest": _digest(bundle)}],
        "subject": dict(subject),
        "annotations": {
            CONTENT_ANNOTATION: "dsse-envelope",
            PREDICATE_ANNOTATION: predicate_type,
            CREATED_ANNOTATION: created,
            **(extra_annotations or {}),
        },
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def is_bundle_referrer(descriptor: Mapping[str, Any]) -> bool:
    """A referrers-list entry that holds a Sigstore bundle (by its type or its annotations)."""
    annotations = descriptor.get("annotations")
    content = annotations.get(CONTENT_ANNOTATION) if isinstance(annotations, Mapping) else None
    return descriptor.get("artifactType") == BUNDLE_MEDIA_TYPE or content in (
        "dsse-envelope",
        "message-signature",
    )
