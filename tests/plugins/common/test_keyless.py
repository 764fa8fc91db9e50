"""Keyless signing up to the network call Sigstore would answer.

Sigstore's Fulcio and Rekor, and GitHub's OIDC token service, cannot be reached from here.
These tests therefore run sigstore-python's real clients against
``tests/harness/sigstore_endpoints.py``, a local server that speaks the documented Actions
token protocol faithfully and records the Fulcio signing-certificate request it is sent
(then refuses it: a real certificate needs Sigstore's CA and CT log). Nothing of sigstore is
mocked or patched; the local services are reached through sigstore's public trust-config
format (a ``ClientTrustConfig`` JSON naming their URLs). What is *not* tested here: a
certificate actually issued, the Rekor upload and a bundle that ``cosign verify-blob``
accepts, which need the real Sigstore.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from tests.harness.sigstore_endpoints import (
    FULCIO_PATH,
    TOKEN_PATH,
    Reply,
    SigstoreEndpoints,
    sigstore_endpoints,
    trust_config_json,
)

from gopipe.secrets import Redactor
from gopipe_plugins._common import cosign_sig, keyless

REQUEST_TOKEN = "actions-request-token-7f3a9c1e5b2d4f60"
WORKFLOW_REF = "octo/hello/.github/workflows/gopipe-cd.yml@refs/tags/v1.2.3"


@pytest.fixture
def endpoints(monkeypatch: pytest.MonkeyPatch) -> Iterator[SigstoreEndpoints]:
    """The local token service and Fulcio, with the job's variables set as Actions sets them
    (sigstore reads them from the process environment)."""
    with sigstore_endpoints(REQUEST_TOKEN, WORKFLOW_REF) as server:
        for name, value in actions_env(server).items():
            monkeypatch.setenv(name, value)
        yield server


def actions_env(server: SigstoreEndpoints) -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        keyless.REQUEST_URL: server.token_url,
        keyless.REQUEST_TOKEN: REQUEST_TOKEN,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_WORKFLOW_REF": WORKFLOW_REF,
    }


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


def test_the_token_is_fetched_as_actions_documents_it_and_masked(
    endpoints: SigstoreEndpoints, redactor: Redactor
) -> None:
    token = keyless.actions_identity_token(actions_env(endpoints), redactor.add, redactor)
    (seen,) = endpoints.seen(TOKEN_PATH)
    assert seen.method == "GET"
    assert seen.query == {"api-version": "2.0", "audience": "sigstore"}  # its own query kept
    assert seen.headers["authorization"] == f"bearer {REQUEST_TOKEN}"
    assert token.issuer == keyless.GITHUB_ISSUER
    assert token.identity == "repo:octo/hello:ref:refs/tags/v1.2.3"  # sigstore's claim for this issuer
    (issued,) = endpoints.issued
    text = f"request {REQUEST_TOKEN} got {issued}"
    assert REQUEST_TOKEN not in redactor(text) and issued not in redactor(text)


def test_outside_actions_it_is_a_usage_error_naming_id_token(redactor: Redactor) -> None:
    with pytest.raises(keyless.KeylessUsageError, match=r"^keyless signing needs id-token: write in a"):
        keyless.actions_identity_token({}, redactor.add, redactor)


def test_a_job_without_id_token_write_names_the_missing_variables(redactor: Redactor) -> None:
    env = {"GITHUB_ACTIONS": "true", keyless.REQUEST_TOKEN: REQUEST_TOKEN}
    with pytest.raises(keyless.KeylessUsageError) as caught:
        keyless.actions_identity_token(env, redactor.add, redactor)
    assert str(caught.value) == (
        "keyless signing needs id-token: write: ACTIONS_ID_TOKEN_REQUEST_URL not set in this job"
    )


def test_a_token_from_another_issuer_is_refused(endpoints: SigstoreEndpoints, redactor: Redactor) -> None:
    with pytest.raises(keyless.KeylessError, match=r"issued by https://token\.actions.*, not https://other"):
        keyless.actions_identity_token(actions_env(endpoints), redactor.add, redactor, issuer="https://other")


def _csr_from(body: bytes) -> x509.CertificateSigningRequest:
    pem = base64.b64decode(json.loads(body)["certificateSigningRequest"])
    return x509.load_pem_x509_csr(pem)


def test_signing_asks_fulcio_for_a_certificate_with_the_token_and_a_csr(
    endpoints: SigstoreEndpoints, redactor: Redactor, tmp_path: Path
) -> None:
    """Everything before Sigstore answers: the trust config names our Fulcio, the signer
    sends a well-formed signing-certificate request (bearer = the job's OIDC token, a CSR
    for a fresh P-256 key, signed by it), and the refusal is one masked line."""
    token = keyless.actions_identity_token(actions_env(endpoints), redactor.add, redactor)
    trust = tmp_path / "trust.json"
    trust.write_text(trust_config_json(endpoints.url, endpoints.url))
    config = keyless.trust_config("production", trust, redactor)
    assert keyless.signing_services(config)[0] == endpoints.url
    with pytest.raises(keyless.KeylessError) as caught, keyless.keyless_signer(config, token, redactor):
        pytest.fail("the local Fulcio issues no certificate")
    message = str(caught.value)
    assert message.startswith(f"no signing certificate from Fulcio ({endpoints.url}): ")
    assert "503" in message and "\n" not in message
    (issued,) = endpoints.issued
    assert issued not in message and REQUEST_TOKEN not in message
    (request,) = endpoints.seen(FULCIO_PATH)
    assert request.method == "POST"
    assert request.headers["authorization"] == f"Bearer {issued}"
    assert request.headers["content-type"] == "application/json"
    csr = _csr_from(request.body)
    assert csr.is_signature_valid
    public = csr.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    basic = csr.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca is False
    # a second signer (a rerun) gets a new ephemeral key, never the same one
    with pytest.raises(keyless.KeylessError), keyless.keyless_signer(config, token, redactor):
        pass
    second = _csr_from(endpoints.seen(FULCIO_PATH)[1].body).public_key()
    assert isinstance(second, ec.EllipticCurvePublicKey)
    assert second.public_numbers() != public.public_numbers()


def test_a_fulcio_error_body_echoing_the_token_is_masked(
    endpoints: SigstoreEndpoints, redactor: Redactor, tmp_path: Path
) -> None:
    token = keyless.actions_identity_token(actions_env(endpoints), redactor.add, redactor)
    (issued,) = endpoints.issued
    endpoints.fault(FULCIO_PATH, Reply(400, json.dumps({"message": f"bad token {issued}"}).encode()))
    trust = tmp_path / "trust.json"
    trust.write_text(trust_config_json(endpoints.url, endpoints.url))
    config = keyless.trust_config("production", trust, redactor)
    with pytest.raises(keyless.KeylessError) as caught, keyless.keyless_signer(config, token, redactor):
        pass
    assert issued not in str(caught.value) and "400" in str(caught.value)


def test_the_public_instances_build_a_signing_context(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """sigstore's embedded production and staging trust roots (offline: their TUF
    repositories cannot be refreshed from here) build signing contexts over https."""
    from sigstore.models import ClientTrustConfig
    from sigstore.sign import SigningContext

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    for config in (ClientTrustConfig.production(offline=True), ClientTrustConfig.staging(offline=True)):
        SigningContext.from_trust_config(config)
        fulcio, rekor = keyless.signing_services(config)
        assert fulcio.startswith("https://") and rekor.startswith("https://")


def test_no_network_to_tuf_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The online refresh of the production root fails here; the error is one line."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # refused at once, even with a network
    with pytest.raises(keyless.KeylessError) as caught:
        keyless.trust_config("production", None, Redactor())
    assert str(caught.value).startswith("cannot load the Sigstore production trust root: TUFError")
    assert "\n" not in str(caught.value) and len(str(caught.value)) <= 400


def test_a_malformed_trust_config_is_one_line(tmp_path: Path) -> None:
    trust = tmp_path / "trust.json"
    trust.write_text('{"mediaType": "nonsense"}')
    with pytest.raises(keyless.KeylessError, match=r"^cannot load the trust config trust\.json: "):
        keyless.trust_config("production", trust, Redactor())


def _bundle(payload: bytes) -> dict[str, object]:
    """A v0.3 Sigstore bundle's JSON shape (the protobuf-specs field names)."""
    return {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "certificate": {"rawBytes": base64.b64encode(b"leaf-der" * 20).decode()},
            "tlogEntries": [
                {
                    "logIndex": "12345",
                    "logId": {"keyId": base64.b64encode(bytes(range(32))).decode()},
                    "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
                    "integratedTime": "1764590000",
                    "inclusionPromise": {"signedEntryTimestamp": "TUVVQ0lRQ..."},
                    "canonicalizedBody": base64.b64encode(b'{"kind":"hashedrekord"}').decode(),
                }
            ],
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": "AAAA"},
            "signature": "c2lnbmF0dXJl",
        },
    }


def test_an_image_signature_layer_carries_what_cosign_verify_reads() -> None:
    payload = cosign_sig.simple_signing_payload("registry.local/hello", "sha256:" + "a" * 64)
    layer = keyless.tag_scheme_layer(payload, _bundle(payload))
    assert layer["mediaType"] == cosign_sig.SIMPLE_SIGNING
    assert layer["digest"] == cosign_sig.payload_digest(payload)
    notes = layer["annotations"]
    assert notes[cosign_sig.SIGNATURE_ANNOTATION] == "c2lnbmF0dXJl"
    cert = notes[keyless.CERTIFICATE_ANNOTATION]
    assert cert.startswith("-----BEGIN CERTIFICATE-----\n") and cert.endswith("-----END CERTIFICATE-----\n")
    assert all(len(line) <= 64 for line in cert.splitlines())
    rekor = json.loads(notes[keyless.BUNDLE_ANNOTATION])
    assert rekor["SignedEntryTimestamp"] == "TUVVQ0lRQ..."
    assert rekor["Payload"]["logIndex"] == 12345 and rekor["Payload"]["integratedTime"] == 1764590000
    assert rekor["Payload"]["logID"] == bytes(range(32)).hex()


def test_a_bundle_without_a_signed_entry_timestamp_is_refused() -> None:
    payload = b"{}"
    bundle = _bundle(payload)
    entry = bundle["verificationMaterial"]["tlogEntries"][0]  # type: ignore[index]
    del entry["inclusionPromise"]
    with pytest.raises(keyless.KeylessError, match="no signed entry timestamp"):
        keyless.tag_scheme_layer(payload, bundle)


def test_workflow_identity_is_the_workflow_at_its_ref() -> None:
    ident = keyless.workflow_identity({"GITHUB_WORKFLOW_REF": WORKFLOW_REF})
    assert ident == keyless.Identity(
        "https://github.com/octo/hello/.github/workflows/gopipe-cd.yml@refs/tags/v1.2.3",
        keyless.GITHUB_ISSUER,
    )
    assert keyless.workflow_identity({}) is None
