"""Keyless signing with Sigstore: the GitHub Actions OIDC token, a Fulcio certificate for an
ephemeral key, and a Rekor entry, all through sigstore-python (``pip install gopipe[keyless]``).

Nothing here speaks Fulcio or Rekor itself. This module only adds what gopipe needs around
the library:

- **The token** comes from sigstore's own ambient-credential detection
  (:func:`sigstore.oidc.detect_credential`, which implements the documented Actions protocol:
  ``GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=sigstore`` with ``Authorization: bearer
  $ACTIONS_ID_TOKEN_REQUEST_TOKEN``, answer ``{"value": "<jwt>"}``). Before that call the
  environment is checked, so a job without ``id-token: write`` gets one line saying so
  (:class:`KeylessUsageError`, a config error) instead of a library message. The request
  token and the identity token are handed to the run's redactor before any request is made.
- **The trust root**: Sigstore's public production or staging instance (``ClientTrustConfig``
  from its TUF repository) or a ``ClientTrustConfig`` JSON file for a private instance.
- **Errors**: every failure reaching Sigstore is a :class:`KeylessError` of one masked line
  (the library's own messages can carry a response body).
- **cosign's storage forms**: a blob gets its Sigstore bundle (``<file>.sigstore.json``, what
  ``cosign verify-blob --bundle`` and ``sigstore verify github`` read); an image signature is
  a tag-scheme layer whose annotations hold the certificate and the Rekor entry the way
  ``cosign sign`` writes them, and the bundle itself for an OCI 1.1 referrer.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gopipe_plugins._common import cosign_sig

if TYPE_CHECKING:
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken
    from sigstore.sign import Signer

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
AUDIENCE = "sigstore"
REQUEST_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
REQUEST_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
BUNDLE_SUFFIX = ".sigstore.json"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
FULCIO_ISSUER_OID = "1.3.6.1.4.1.57264.1.1"  # the OIDC issuer, raw bytes (Fulcio's v1 extension)
Instance = Literal["production", "staging"]
# an https URL without spaces, quotes or control characters: what cosign's identity/issuer flags take
HTTPS_URL = re.compile(r"https://[^\s\"'<>\\\x00-\x1f\x7f]+")
MESSAGE_LIMIT = 300  # characters of a library message kept in an error line

Redact = Callable[[str], str]
AddSecret = Callable[[str], None]


class KeylessError(Exception):
    """Signing could not be done: one line, already masked."""


class KeylessUsageError(KeylessError):
    """The run cannot sign keyless at all (not in Actions, no ``id-token: write``): a usage error."""


@dataclass(frozen=True)
class Identity:
    """Who the certificate will name, as a consumer passes it to ``cosign verify``."""

    identity: str  # --certificate-identity: the workflow file at its ref
    issuer: str  # --certificate-oidc-issuer


def one_line(text: str, redact: Redact, limit: int = MESSAGE_LIMIT) -> str:
    """Masked first, then flattened and cut: a cut before masking could keep a secret's prefix."""
    flat = " ".join(redact(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _describe(exc: BaseException) -> str:
    """The exception and the causes the library wrapped it around, outermost first."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(parts) < 4:
        text = str(seen).strip()
        parts.append(f"{type(seen).__name__}: {text}" if text else type(seen).__name__)
        seen = seen.__cause__ or seen.__context__
    return " <- ".join(parts)


def workflow_identity(env: Mapping[str, str], issuer: str = GITHUB_ISSUER) -> Identity | None:
    """The certificate identity a job's token gets from Fulcio: the server URL and the
    workflow ref (``https://github.com/OWNER/REPO/.github/workflows/F.yml@refs/tags/v1``).
    Fulcio takes it from the token's ``job_workflow_ref``; for a workflow that calls no
    reusable workflow (gopipe's), that is ``GITHUB_WORKFLOW_REF``."""
    ref = env.get("GITHUB_WORKFLOW_REF", "")
    if not ref:
        return None
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    return Identity(f"{server}/{ref}", issuer)


def certificate_identity(pem: str) -> Identity | None:
    """The identity and issuer a Fulcio certificate names (URI SAN; issuer extension
    ``1.3.6.1.4.1.57264.1.1``), or ``None`` for anything else."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
        uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        issuer = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(FULCIO_ISSUER_OID)).value
    except (ValueError, x509.ExtensionNotFound):
        return None
    names = uris.get_values_for_type(x509.UniformResourceIdentifier)
    raw = getattr(issuer, "value", b"")
    if len(names) != 1 or not isinstance(raw, bytes):
        return None
    return Identity(names[0], raw.decode("utf-8", "replace"))


def actions_identity_token(
    env: Mapping[str, str], add_secret: AddSecret, redact: Redact, *, issuer: str = GITHUB_ISSUER
) -> IdentityToken:
    """The job's OIDC token for audience ``sigstore``, parsed by sigstore (claims, expiry).

    ``env`` is checked first (the library reads the process environment, which a run shares);
    both tokens are registered with ``add_secret`` before they could appear anywhere.
    """
    if env.get("GITHUB_ACTIONS") != "true":
        raise KeylessUsageError(
            "keyless signing needs id-token: write in a GitHub Actions job, and this is not one"
        )
    missing = [name for name in (REQUEST_URL, REQUEST_TOKEN) if not env.get(name)]
    if missing:
        raise KeylessUsageError(
            f"keyless signing needs id-token: write: {' and '.join(missing)} not set in this job"
        )
    add_secret(env[REQUEST_TOKEN])
    try:
        from sigstore.oidc import IdentityError, IdentityToken, detect_credential
    except ImportError as exc:
        raise KeylessUsageError(f"keyless signing needs {exc.name}: pip install 'gopipe[keyless]'") from None
    try:
        raw = detect_credential(AUDIENCE)
    except Exception as exc:  # IdentityError, and the transport errors the library lets through
        raise KeylessError(f"no OIDC token from {REQUEST_URL}: {one_line(_describe(exc), redact)}") from None
    if not raw:
        raise KeylessError(f"no OIDC token from {REQUEST_URL}: the request returned none")
    add_secret(raw)
    try:
        token = IdentityToken(raw)
    except IdentityError as exc:
        raise KeylessError(
            f"the OIDC token is not usable for Sigstore: {one_line(str(exc), redact)}"
        ) from None
    if token.issuer != issuer:
        raise KeylessError(
            f"the OIDC token was issued by {one_line(token.issuer, redact, 120)}, not {issuer}"
        )
    return token


def trust_config(instance: Instance, path: Path | None, redact: Redact) -> ClientTrustConfig:
    """Sigstore's public ``instance`` (its TUF repository, refreshed over the network) or the
    ``ClientTrustConfig`` JSON at ``path`` (a private instance: its Fulcio, Rekor and roots)."""
    try:
        from sigstore.models import ClientTrustConfig
    except ImportError as exc:
        raise KeylessUsageError(f"keyless signing needs {exc.name}: pip install 'gopipe[keyless]'") from None
    where = f"trust config {path.name}" if path is not None else f"Sigstore {instance} trust root"
    try:
        if path is not None:
            return ClientTrustConfig.from_json(path.read_text(encoding="utf-8"))
        if instance == "staging":
            return ClientTrustConfig.staging()
        return ClientTrustConfig.production()
    except Exception as exc:  # TUF, JSON and model errors alike: one line
        raise KeylessError(f"cannot load the {where}: {one_line(_describe(exc), redact)}") from None


def signing_services(config: ClientTrustConfig) -> tuple[str, str]:
    """(Fulcio URL, Rekor URL) that signing with ``config`` will call."""
    signing = config.signing_config
    rekor = signing.get_tlogs()[0]
    return signing.get_fulcio().url, str(getattr(rekor, "url", type(rekor).__name__))


@contextmanager
def _sigstore(what: str, redact: Redact) -> Iterator[None]:
    try:
        yield
    except KeylessError:
        raise
    except Exception as exc:  # requests, Fulcio, Rekor, SCT: the library has no common base
        raise KeylessError(f"{what}: {one_line(_describe(exc), redact)}") from None


class KeylessSigner:
    """One ephemeral key and its Fulcio certificate for the whole run (sigstore's cached
    :class:`~sigstore.sign.Signer`); every signature is a Rekor entry of its own."""

    def __init__(self, signer: Signer, redact: Redact) -> None:
        self._signer = signer
        self._redact = redact

    def sign_blob(self, data: bytes) -> str:
        """The Sigstore bundle (JSON) of ``data``: a ``hashedrekord`` over its SHA-256."""
        with _sigstore("Sigstore signing (Rekor) failed", self._redact):
            return str(self._signer.sign_artifact(data).to_json())

    def sign_statement(self, statement: bytes) -> str:
        """The Sigstore bundle (JSON) of an in-toto statement: a DSSE envelope, a ``dsse`` entry."""
        from sigstore.dsse import Statement

        with _sigstore("Sigstore signing (DSSE, Rekor) failed", self._redact):
            return str(self._signer.sign_dsse(Statement(statement)).to_json())

    def sign_image(self, repository: str, digest: str) -> tuple[dict[str, Any], str]:
        """cosign's simple-signing payload for ``repository@digest``, signed: (the tag-scheme
        layer with its certificate and Rekor annotations, the bundle JSON for a referrer)."""
        payload = cosign_sig.simple_signing_payload(repository, digest)
        bundle = self.sign_blob(payload)
        return tag_scheme_layer(payload, json.loads(bundle)), bundle


@contextmanager
def keyless_signer(
    config: ClientTrustConfig, token: IdentityToken, redact: Redact
) -> Iterator[KeylessSigner]:
    """A signer for ``token``; opening it generates the ephemeral key and asks Fulcio for its
    certificate (the first network call: its failure is a :class:`KeylessError`)."""
    from sigstore.sign import SigningContext

    with _sigstore("Sigstore trust config is not usable for signing", redact):
        context = SigningContext.from_trust_config(config)
    fulcio, _ = signing_services(config)
    with _sigstore(f"no signing certificate from Fulcio ({fulcio})", redact), context.signer(token) as signer:
        yield KeylessSigner(signer, redact)


_PEM_BODY = re.compile(r"\s+")


def _pem(der_b64: str) -> str:
    body = _PEM_BODY.sub("", der_b64)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def _rekor_annotations(bundle: Mapping[str, Any]) -> dict[str, str]:
    """cosign's annotations for a keyless signature: leaf certificate (PEM), chain, and the
    Rekor entry with its signed entry timestamp (``dev.sigstore.cosign/bundle``), which
    ``cosign verify`` checks offline against Rekor's key."""
    material = bundle.get("verificationMaterial") or {}
    cert = (material.get("certificate") or {}).get("rawBytes")
    listed = (material.get("x509CertificateChain") or {}).get("certificates") or []
    chain = [c.get("rawBytes") for c in listed]
    if not cert and chain:
        cert, chain = chain[0], chain[1:]
    entries = material.get("tlogEntries") or []
    if not cert or not entries:
        raise KeylessError("the Sigstore bundle has no certificate or Rekor entry")
    entry = entries[0]
    promise = (entry.get("inclusionPromise") or {}).get("signedEntryTimestamp")
    if not promise:
        raise KeylessError("the Rekor entry has no signed entry timestamp (a Rekor v2 log?)")
    rekor = {
        "SignedEntryTimestamp": promise,
        "Payload": {
            "body": entry["canonicalizedBody"],
            "integratedTime": int(entry["integratedTime"]),
            "logIndex": int(entry["logIndex"]),
            "logID": base64.b64decode(entry["logId"]["keyId"]).hex(),
        },
    }
    return {
        CERTIFICATE_ANNOTATION: _pem(str(cert)),
        CHAIN_ANNOTATION: "".join(_pem(str(c)) for c in chain if c),
        BUNDLE_ANNOTATION: json.dumps(rekor, separators=(",", ":")),
    }


def tag_scheme_layer(payload: bytes, bundle: Mapping[str, Any]) -> dict[str, Any]:
    """The signature layer ``cosign sign`` (keyless, tag scheme) writes, from a v0.3 bundle
    over ``payload``: the signature and :func:`_rekor_annotations`."""
    signature = (bundle.get("messageSignature") or {}).get("signature")
    if not signature:
        raise KeylessError("the Sigstore bundle has no message signature")
    annotations = _rekor_annotations(bundle)
    layer = cosign_sig.signature_layer(payload, str(signature))
    layer["annotations"].update(annotations)
    return layer


def attestation_layer(bundle: Mapping[str, Any], predicate_type: str) -> tuple[bytes, dict[str, Any]]:
    """(envelope bytes, ``.att`` layer) as ``cosign attest`` (keyless) stores them, from a v0.3
    bundle holding a DSSE envelope. The bytes are the envelope exactly as sigstore submitted it
    to Rekor (its own model's JSON): Rekor's ``dsse`` entry records their SHA-256, which cosign
    compares with the layer."""
    from sigstore_models.intoto import Envelope

    envelope = bundle.get("dsseEnvelope")
    if not isinstance(envelope, Mapping) or not envelope.get("signatures"):
        raise KeylessError("the Sigstore bundle has no DSSE envelope")
    data = Envelope.model_validate(dict(envelope)).to_json().encode()
    layer = cosign_sig.attestation_layer(data, predicate_type)
    layer["annotations"].update(_rekor_annotations(bundle))
    return data, layer
