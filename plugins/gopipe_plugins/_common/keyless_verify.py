"""Check an image's keyless signature and SLSA provenance by *who* signed it: the
certificate identity and OIDC issuer, as ``cosign verify --certificate-identity[-regexp]
--certificate-oidc-issuer`` does.

What is read: the Sigstore bundles among the digest's OCI 1.1 referrers (the referrers API or
its tag schema; :mod:`gopipe_plugins._common.cosign_verify` bounds what a registry serves).
That is where cosign v3 and gopipe's keyless ``sign`` store them. Each bundle is verified by
sigstore-python's :class:`~sigstore.verify.Verifier` against a trusted root (the
certificate chain to Fulcio's CA, its SCT, the Rekor entry and its inclusion proof, the
DSSE signature), then by the identity policy below; only then does its in-toto statement
count, and only when it is about this very digest. cosign v2's tag-scheme keyless layers are
not read: a bundle carries everything the verification needs, a tag-scheme layer does not
carry the inclusion proof.

The trusted root is a ``TrustedRoot`` JSON (what ``cosign verify --trusted-root`` takes) or a
``ClientTrustConfig`` JSON (what ``sign``'s ``trust_config`` takes), or else Sigstore's
public production root from its TUF repository (a network call).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gopipe_oci import RegistryClient, RegistryError
from gopipe_plugins._common import cosign_verify, sigstore_bundle
from gopipe_plugins._common.keyless import KeylessError, KeylessUsageError, Redact, one_line
from gopipe_plugins._common.provenance import PREDICATE_TYPE

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from sigstore.verify import Verifier

IN_TOTO = "application/vnd.in-toto+json"
CLIENT_TRUST_CONFIG = "application/vnd.dev.sigstore.clienttrustconfig"
NO_SIGNATURE = "no signature by the configured identity"
ELSEWHERE = "its signature by the configured identity is about another image"
NO_PROVENANCE = "no SLSA provenance about this digest signed by the configured identity"


@dataclass(frozen=True)
class IdentityPolicy:
    """Who must have signed: a SAN equal to ``identity`` or matching ``pattern`` (searched,
    as cosign's ``--certificate-identity-regexp``: anchor it with ``^…$``), and the OIDC
    issuer in Fulcio's issuer extension (v1 or v2). A sigstore ``VerificationPolicy``."""

    issuer: str
    identity: str | None = None
    pattern: re.Pattern[str] | None = None

    def describe(self) -> str:
        who = (
            self.identity
            if self.identity is not None
            else f"/{self.pattern.pattern if self.pattern else ''}/"
        )
        return f"{who} (issuer {self.issuer})"

    def verify(self, cert: Certificate) -> None:
        from cryptography import x509
        from sigstore.errors import VerificationError
        from sigstore.verify.policy import AnyOf, OIDCIssuer, OIDCIssuerV2

        AnyOf([OIDCIssuer(self.issuer), OIDCIssuerV2(self.issuer)]).verify(cert)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            raise VerificationError("the certificate has no subject alternative name") from None
        names = [
            *san.get_values_for_type(x509.UniformResourceIdentifier),
            *san.get_values_for_type(x509.RFC822Name),
        ]
        if self.identity is not None and self.identity in names:
            return
        if self.pattern is not None and any(self.pattern.search(n) for n in names):
            return
        raise VerificationError(
            f"the certificate names {', '.join(names) or 'nobody'}, not {self.describe()}"
        )


@dataclass
class KeylessTrust:
    """A verifier and a policy; remembers why bundles were rejected, for the error's details."""

    verifier: Verifier
    policy: IdentityPolicy
    redact: Redact = str  # the run's masking, applied before a reason is cut to length
    rejected: list[str] = field(default_factory=list)

    def statement(self, data: bytes) -> dict[str, Any] | None:
        """The verified in-toto statement of a bundle, or ``None`` (the reason kept)."""
        from sigstore.models import Bundle

        try:
            bundle = Bundle.from_json(data)
            if bundle._dsse_envelope is None:
                raise ValueError("not a DSSE bundle")
            payload_type, payload = self.verifier.verify_dsse(bundle, self.policy)
            if payload_type != IN_TOTO:
                raise ValueError(f"payload type {payload_type}")
            statement = json.loads(payload)
        except Exception as exc:  # the library's errors have no common base; a registry's bytes are hostile
            self.rejected.append(one_line(str(exc) or type(exc).__name__, self.redact, 200))
            return None
        return statement if isinstance(statement, dict) else None


def load_verifier(trusted_root: Path | None, redact: Redact = str) -> Verifier:
    """A sigstore verifier for the root at ``trusted_root`` (``TrustedRoot`` or
    ``ClientTrustConfig`` JSON), or for Sigstore's public production root."""
    try:
        from sigstore.models import ClientTrustConfig, TrustedRoot
        from sigstore.verify import Verifier
    except ImportError as exc:
        raise KeylessUsageError(
            f"checking keyless signatures needs {exc.name}: pip install 'gopipe[keyless]'"
        ) from None
    try:
        if trusted_root is None:
            return Verifier.production()
        text = trusted_root.read_text(encoding="utf-8")
        if CLIENT_TRUST_CONFIG in str(json.loads(text).get("mediaType", "")):
            return Verifier(trusted_root=ClientTrustConfig.from_json(text).trusted_root)
        return Verifier(trusted_root=TrustedRoot.from_file(str(trusted_root)))
    except Exception as exc:  # TUF, JSON and model errors alike: one line
        where = trusted_root.name if trusted_root is not None else "Sigstore's production trusted root"
        raise KeylessError(
            f"cannot load {where}: {one_line(str(exc) or type(exc).__name__, redact)}"
        ) from None


def image_problems(client: RegistryClient, repo: str, digest: str, trust: KeylessTrust) -> list[str]:
    """What is missing for ``digest``: a ``cosign/sign/v1`` statement about it and a SLSA v1
    provenance statement about it, each in a bundle ``trust`` accepts."""
    trust.rejected.clear()
    try:
        manifests = cosign_verify.referrer_manifests(client, repo, digest)
        statements = cosign_verify.bundle_statements(client, repo, manifests, trust.statement)
    except (RegistryError, OSError, ValueError) as exc:
        return [f"cannot read its signatures: {exc}"]
    problems = []
    signatures = [s for s in statements if s.get("predicateType") == sigstore_bundle.SIGN_PREDICATE]
    if not any(cosign_verify.about(s, digest) for s in signatures):
        problems.append(ELSEWHERE if signatures else NO_SIGNATURE)
    provenance = [s for s in statements if s.get("predicateType") == PREDICATE_TYPE]
    if not any(cosign_verify.about(s, digest) for s in provenance):
        problems.append(NO_PROVENANCE)
    if problems and trust.rejected:
        problems.append(f"{len(trust.rejected)} bundle(s) rejected, first: {trust.rejected[0]}")
    return problems
