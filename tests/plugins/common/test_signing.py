"""cosign key files and DSSE envelopes without the cosign CLI: round trips and bad input.

(The CLI's side, keys made by ``cosign generate-key-pair`` and envelopes checked by
``cosign verify-blob-attestation``, is in tests/plugins/upload/test_provenance.py.)
"""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gopipe_plugins._common import dsse
from gopipe_plugins._common.cosign_key import (
    PEM_LABEL,
    BadKey,
    encrypt_private_key,
    generate,
    load_private_key,
    public_key_pem,
)

PASSWORD = "correct horse battery"


def _body(pem: bytes) -> dict[str, object]:
    lines = pem.decode().strip().splitlines()[1:-1]
    return dict(json.loads(base64.b64decode("".join(lines))))


def _pem(body: dict[str, object]) -> bytes:
    text = base64.b64encode(json.dumps(body).encode()).decode()
    return f"-----BEGIN {PEM_LABEL}-----\n{text}\n-----END {PEM_LABEL}-----\n".encode()


def test_a_written_key_loads_back_with_cosigns_parameters() -> None:
    private, public = generate(PASSWORD)
    body = _body(private)
    assert body["kdf"] == {
        "name": "scrypt",
        "params": {"N": 65536, "r": 8, "p": 1},
        "salt": body["kdf"]["salt"],
    }  # type: ignore[index]
    key = load_private_key(private, PASSWORD)
    assert public_key_pem(key) == public and public.startswith(b"-----BEGIN PUBLIC KEY-----")


@pytest.mark.parametrize(
    ("pem", "says"),
    [
        (b"", "not a cosign private key"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a cosign private key"),
        (f"-----BEGIN {PEM_LABEL}-----\n!!!\n-----END {PEM_LABEL}-----\n".encode(), "not base64"),
        (_pem({"kdf": 1}), "not cosign's encrypted-key JSON"),
        ("héllo".encode(), "not a cosign private key"),
    ],
)
def test_what_is_not_a_key_says_so(pem: bytes, says: str) -> None:
    with pytest.raises(BadKey, match=says):
        load_private_key(pem, PASSWORD)


def test_a_wrong_password_and_a_damaged_key_are_one_error_without_the_password() -> None:
    private, _ = generate(PASSWORD)
    with pytest.raises(BadKey) as err:
        load_private_key(private, "wrong password here")
    assert "password does not open the key" in str(err.value) and "wrong password" not in str(err.value)
    body = _body(private)
    sealed = bytearray(base64.b64decode(str(body["ciphertext"])))
    sealed[5] ^= 1
    body["ciphertext"] = base64.b64encode(bytes(sealed)).decode()
    with pytest.raises(BadKey, match="password does not open the key"):
        load_private_key(_pem(body), PASSWORD)


def test_scrypt_parameters_that_would_exhaust_memory_are_refused() -> None:
    body = _body(generate(PASSWORD)[0])
    body["kdf"]["params"]["N"] = 1 << 30  # type: ignore[index]
    with pytest.raises(BadKey, match="scrypt parameters are out of range"):
        load_private_key(_pem(body), PASSWORD)


@pytest.mark.parametrize(
    "other",
    [ec.generate_private_key(ec.SECP384R1()), rsa.generate_private_key(65537, 2048)],
    ids=["p384", "rsa"],
)
def test_only_p256_keys_sign(other: object) -> None:
    with pytest.raises(BadKey, match="not an ECDSA P-256 key"):
        load_private_key(encrypt_private_key(other, PASSWORD), PASSWORD)


def test_dsse_signs_the_pae_and_catches_a_swapped_payload_or_type() -> None:
    key = load_private_key(generate(PASSWORD)[0], PASSWORD)
    payload = dsse.canonical({"b": 1, "a": "é"})
    assert payload == '{"a":"é","b":1}'.encode()
    assert dsse.pae("t", b"xy") == b"DSSEv1 1 t 2 xy"
    envelope = dsse.sign(payload, key)
    assert dsse.verify(envelope, key.public_key()) == payload
    swapped = {**envelope, "payload": base64.b64encode(b'{"a":2}').decode()}
    with pytest.raises(ValueError, match="no signature"):
        dsse.verify(swapped, key.public_key())
    retyped = {**envelope, "payloadType": "text/plain"}
    with pytest.raises(ValueError, match="no signature"):
        dsse.verify(retyped, key.public_key())
    with pytest.raises(ValueError, match="not a DSSE envelope"):
        dsse.verify({"payload": "x"}, key.public_key())


def test_a_sigstore_bundle_holds_the_envelope_and_the_key_hint() -> None:
    from gopipe_plugins._common import sigstore_bundle as sb

    key = ec.generate_private_key(ec.SECP256R1())
    target = "sha256:" + "ab" * 32
    envelope = dsse.sign(sb.signature_statement(target), key)
    data = sb.make_bundle(envelope, key.public_key())
    bundle = json.loads(data)
    assert bundle["mediaType"] == sb.BUNDLE_MEDIA_TYPE and "tlogEntries" not in bundle["verificationMaterial"]
    assert len(base64.b64decode(bundle["verificationMaterial"]["publicKey"]["hint"])) == 32
    statement = json.loads(dsse.verify(sb.bundle_envelope(data), key.public_key()))
    assert statement["subject"] == [{"digest": {"sha256": "ab" * 32}}]
    assert statement["predicateType"] == sb.SIGN_PREDICATE
    subject = {"mediaType": sb.OCI_MANIFEST, "digest": target, "size": 7}
    manifest = json.loads(sb.bundle_manifest(data, subject, sb.SIGN_PREDICATE, "2026-01-02T03:04:05Z"))
    assert manifest["artifactType"] == sb.BUNDLE_MEDIA_TYPE and manifest["subject"] == subject
    assert manifest["config"]["mediaType"] == sb.EMPTY_MEDIA_TYPE and manifest["config"]["size"] == 2
    assert manifest["annotations"][sb.CONTENT_ANNOTATION] == "dsse-envelope"
    for bad in (b"[]", b"{}", b'{"mediaType": "x", "dsseEnvelope": {}}', b"not json"):
        with pytest.raises(ValueError):
            sb.bundle_envelope(bad)
    assert sb.is_bundle_referrer({"annotations": {sb.CONTENT_ANNOTATION: "dsse-envelope"}})
    assert not sb.is_bundle_referrer({"annotations": "not a map", "artifactType": "x"})
