"""Check an image's cosign signature and SLSA provenance in its registry, with a public key.

What ``cosign verify --key`` and ``verify-attestation --type slsaprovenance1`` check, done
in-process so deploy can refuse an image before applying anything. Either storage counts:

- cosign's **tag scheme**: ``<repo>:sha256-<hex>.sig`` holds a simple-signing layer whose
  blob has the layer's digest, names this very digest and repository, and whose signature
  verifies with the key; ``<repo>:sha256-<hex>.att`` holds a DSSE layer of predicate type
  SLSA provenance v1 whose envelope verifies with the key and whose statement's subject is
  this digest;
- **OCI 1.1 referrers** of the digest (the referrers API, or the referrers tag schema
  ``<repo>:sha256-<hex>`` where the registry has no API): Sigstore bundles v0.3 (cosign v3's
  format: a DSSE envelope whose statement is about this digest, predicate
  ``https://sigstore.dev/cosign/sign/v1`` for a signature, SLSA v1 for provenance), and the
  older ``application/vnd.dev.cosign.artifact.sig.v1+json`` simple-signing referrers.

A signature or statement about *another* digest (a signature image or referrer copied from
elsewhere) does not count, nor does one whose blob does not match its descriptor. What a
registry serves is bounded: at most 64 referrers and layers are read, blobs and manifests
above 16 MiB are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from gopipe_oci import RegistryClient, RegistryError
from gopipe_oci.referrers import list_referrers
from gopipe_plugins._common import cosign_sig, dsse, sigstore_bundle
from gopipe_plugins._common.provenance import PREDICATE_TYPE

_MAX_LAYERS = 64
VerifyBundle = Callable[[bytes], "dict[str, Any] | None"]  # bundle bytes -> its verified statement
_MAX_BYTES = 16 << 20


def _map(value: object) -> dict[str, Any]:
    """``value`` when it is a JSON object, else empty: a registry's JSON is not trusted to
    have the shape the spec gives it."""
    return value if isinstance(value, dict) else {}


def _too_big(descriptor: dict[str, Any]) -> bool:
    size = descriptor.get("size")
    return not isinstance(size, int) or isinstance(size, bool) or size < 0 or size > _MAX_BYTES


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
    try:
        layers = _map(json.loads(client.get_manifest(repo, tag).data)).get("layers")
    except ValueError:
        return []
    return [dict(x) for x in layers[:_MAX_LAYERS] if isinstance(x, dict)] if isinstance(layers, list) else []


def _blob(client: RegistryClient, repo: str, layer: dict[str, Any]) -> bytes | None:
    digest = str(layer.get("digest", ""))
    if not digest.startswith("sha256:") or _too_big(layer):
        return None
    data = client.get_blob(repo, digest)
    return data if cosign_sig.payload_digest(data) == digest else None


def referrer_manifests(client: RegistryClient, repo: str, digest: str) -> list[dict[str, Any]]:
    """The manifests that refer to ``digest`` (``subject`` checked), from the referrers API or,
    where the registry has none, from the referrers tag schema (an index at ``sha256-<hex>``)."""
    listed, _api = list_referrers(client, repo, digest)
    found = []
    for entry in listed[:_MAX_LAYERS]:
        target = str(entry.get("digest", ""))
        if not target.startswith("sha256:") or _too_big(entry):
            continue
        fetched = client.get_manifest(repo, target)
        if cosign_sig.payload_digest(fetched.data) != target or len(fetched.data) > _MAX_BYTES:
            continue
        try:
            manifest = json.loads(fetched.data)
        except ValueError:
            continue
        if isinstance(manifest, dict) and _map(manifest.get("subject")).get("digest") == digest:
            found.append(manifest)  # a referrer copied from another digest names that one
    return found


def _referrer_layers(manifest: dict[str, Any], media_type: str) -> list[dict[str, Any]]:
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        return []
    return [dict(x) for x in layers[:_MAX_LAYERS] if isinstance(x, dict) and x.get("mediaType") == media_type]


def bundle_statements(
    client: RegistryClient, repo: str, manifests: list[dict[str, Any]], verify: VerifyBundle
) -> list[dict[str, Any]]:
    """The in-toto statements of the Sigstore bundles among ``manifests`` that ``verify``
    accepts (it returns the verified statement, or ``None``)."""
    statements = []
    for manifest in manifests:
        for layer in _referrer_layers(manifest, sigstore_bundle.BUNDLE_MEDIA_TYPE):
            data = _blob(client, repo, layer)
            statement = verify(data) if data is not None else None
            if statement is not None:
                statements.append(statement)
    return statements


def key_verifier(key: Any) -> VerifyBundle:
    """A :data:`VerifyBundle` for bundles signed by ``key`` (no certificate, no log)."""

    def verify(data: bytes) -> dict[str, Any] | None:
        try:
            statement = json.loads(dsse.verify(sigstore_bundle.bundle_envelope(data), key))
        except ValueError:
            return None
        return statement if isinstance(statement, dict) else None

    return verify


def about(statement: dict[str, Any], digest: str) -> bool:
    subjects = statement.get("subject")
    if not isinstance(subjects, list):
        return False
    hexdigest = digest.removeprefix("sha256:")
    return any(_map(_map(s).get("digest")).get("sha256") == hexdigest for s in subjects)


def _simple_signing_problem(
    client: RegistryClient, repo: str, repository: str, digest: str, key: Any, layers: list[dict[str, Any]]
) -> str | None:
    """None when one of ``layers`` is a simple-signing payload about ``digest`` signed by ``key``."""
    elsewhere = False
    for layer in layers:
        if layer.get("mediaType") != cosign_sig.SIMPLE_SIGNING:
            continue
        payload = _blob(client, repo, layer)
        sig = str(_map(layer.get("annotations")).get(cosign_sig.SIGNATURE_ANNOTATION, ""))
        if payload is None or not cosign_sig.verifies(payload, sig, key):
            continue
        try:
            critical = _map(_map(json.loads(payload)).get("critical"))
        except ValueError:
            continue
        if _map(critical.get("image")).get("docker-manifest-digest") != digest:
            elsewhere = True
            continue
        if _map(critical.get("identity")).get("docker-reference") not in (repository, None):
            elsewhere = True
            continue
        return None
    if elsewhere:
        return ELSEWHERE
    return NOT_BY_KEY if layers else NO_SIGNATURE


NO_SIGNATURE = "no cosign signature"
NOT_BY_KEY = "no signature by the configured key"
ELSEWHERE = "its signature names another image (a signature copied from elsewhere)"
NO_PROVENANCE = "no SLSA provenance about this digest signed by the configured key"


def signature_problem(
    client: RegistryClient,
    repo: str,
    repository: str,
    digest: str,
    key: Any,
    referrers: list[dict[str, Any]] | None = None,
) -> str | None:
    """None when a signature of ``digest`` by ``key`` is stored (tag scheme or referrers);
    else what is wrong. ``referrers``: the digest's referrer manifests, when already read."""
    layers = _layers(client, repo, cosign_sig.sig_tag(digest))
    found = [_simple_signing_problem(client, repo, repository, digest, key, layers)]
    if found[0] is None:
        return None
    if referrers is None:
        referrers = referrer_manifests(client, repo, digest)
    for statement in bundle_statements(client, repo, referrers, key_verifier(key)):
        if statement.get("predicateType") == sigstore_bundle.SIGN_PREDICATE:
            if about(statement, digest):
                return None
            found.append(ELSEWHERE)
    legacy = [
        layer
        for m in referrers
        if m.get("artifactType") == cosign_sig.SIGNATURE_ARTIFACT
        or _map(m.get("config")).get("mediaType") == cosign_sig.SIGNATURE_ARTIFACT
        for layer in _referrer_layers(m, cosign_sig.SIMPLE_SIGNING)
    ]
    if legacy:
        found.append(_simple_signing_problem(client, repo, repository, digest, key, legacy))
        if found[-1] is None:
            return None
    if referrers:
        found.append(NOT_BY_KEY)
    for problem in (ELSEWHERE, NOT_BY_KEY):
        if problem in found:
            return problem
    return NO_SIGNATURE


def provenance_problem(
    client: RegistryClient, repo: str, digest: str, key: Any, referrers: list[dict[str, Any]] | None = None
) -> str | None:
    """None when a SLSA v1 provenance statement about ``digest`` signed by ``key`` is stored
    (tag scheme or a Sigstore bundle among the referrers)."""
    layers = _layers(client, repo, cosign_sig.sig_tag(digest, "att"))
    for layer in layers:
        if _map(layer.get("annotations")).get(cosign_sig.PREDICATE_ANNOTATION) != PREDICATE_TYPE:
            continue
        data = _blob(client, repo, layer)
        if data is None:
            continue
        try:
            statement = _map(json.loads(dsse.verify(_map(json.loads(data)), key)))
        except ValueError:
            continue
        if statement.get("predicateType") == PREDICATE_TYPE and about(statement, digest):
            return None
    if referrers is None:
        referrers = referrer_manifests(client, repo, digest)
    for statement in bundle_statements(client, repo, referrers, key_verifier(key)):
        if statement.get("predicateType") == PREDICATE_TYPE and about(statement, digest):
            return None
    return NO_PROVENANCE


def image_problems(client: RegistryClient, repo: str, repository: str, digest: str, key: Any) -> list[str]:
    try:
        referrers = referrer_manifests(client, repo, digest)
        found = [
            signature_problem(client, repo, repository, digest, key, referrers),
            provenance_problem(client, repo, digest, key, referrers),
        ]
    except (RegistryError, OSError, ValueError) as exc:
        return [f"cannot read its signatures: {exc}"]
    return [p for p in found if p]
