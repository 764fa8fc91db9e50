"""cosign's key format: an ECDSA P-256 key in an ``ENCRYPTED SIGSTORE PRIVATE KEY`` PEM.

The PEM body is JSON (go-securesystemslib's ``encrypted`` package, which cosign uses)::

    {"kdf": {"name": "scrypt", "params": {"N": 65536, "r": 8, "p": 1}, "salt": "<b64>"},
     "cipher": {"name": "nacl/secretbox", "nonce": "<b64>"},
     "ciphertext": "<b64>"}

The secretbox key is scrypt(password, salt, N, r, p, 32 bytes); the plaintext is the key's
PKCS#8 DER. Written with well-kept libraries: ``cryptography`` (the EC key, PKCS#8, scrypt)
and ``PyNaCl`` (``nacl.secret.SecretBox``), so a key made by ``cosign generate-key-pair``
loads here and a key written here signs with ``cosign sign --key``. The older
``ENCRYPTED COSIGN PRIVATE KEY`` label is read too.

Every error says what is wrong with the key *file* and never echoes the password or key
bytes; a wrong password and a damaged file are the same error, as in cosign, because
secretbox cannot tell them apart.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

PEM_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY"
_LABELS = (PEM_LABEL, "ENCRYPTED COSIGN PRIVATE KEY")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 65536, 8, 1
_MAX_N = 1 << 20  # refuse key files that would make scrypt use gigabytes


class BadKey(ValueError):
    """The key Secret is not a usable cosign key (or the password does not open it)."""


def _pem_body(pem: bytes) -> bytes:
    text = pem.decode("ascii", errors="strict") if pem.isascii() else ""
    for label in _LABELS:
        begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
        if begin in text and end in text:
            body = text.split(begin, 1)[1].split(end, 1)[0]
            try:
                return base64.b64decode("".join(body.split()), validate=True)
            except ValueError:
                raise BadKey("the key's PEM body is not base64") from None
    raise BadKey(f"not a cosign private key (expected a '{PEM_LABEL}' PEM block)")


def _b64(data: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(data), validate=True)
    except ValueError:
        raise BadKey(f"the key's {what} is not base64") from None


def load_private_key(pem: bytes, password: str) -> Any:
    """The ``cryptography`` EC private key in cosign's encrypted PEM (P-256 only)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
    from cryptography.hazmat.primitives.serialization import load_der_private_key
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    body = _pem_body(pem)
    try:
        doc = json.loads(body)
        kdf, cipher = doc["kdf"], doc["cipher"]
        params = kdf["params"]
        n, r, p = int(params["N"]), int(params["r"]), int(params["p"])
        fields = kdf["salt"], cipher["nonce"], doc["ciphertext"]
    except (ValueError, KeyError, TypeError):
        raise BadKey("the key's PEM body is not cosign's encrypted-key JSON") from None
    salt, nonce, sealed = (
        _b64(v, what) for v, what in zip(fields, ("salt", "nonce", "ciphertext"), strict=True)
    )
    if kdf.get("name") != "scrypt" or cipher.get("name") != "nacl/secretbox":
        raise BadKey("the key is not encrypted with scrypt and nacl/secretbox")
    if not (1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= 32 and 0 < p <= 16):
        raise BadKey("the key's scrypt parameters are out of range")
    if len(nonce) != SecretBox.NONCE_SIZE:
        raise BadKey("the key's nonce has the wrong length")
    secret = Scrypt(salt=salt, length=SecretBox.KEY_SIZE, n=n, r=r, p=p).derive(password.encode())
    try:
        der = SecretBox(secret).decrypt(sealed, nonce)
    except CryptoError:
        raise BadKey("the password does not open the key (or the key file is damaged)") from None
    try:
        key = load_der_private_key(der, password=None)
    except ValueError:
        raise BadKey("the decrypted key is not a PKCS#8 private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise BadKey("the key is not an ECDSA P-256 key")
    return key


def encrypt_private_key(key: Any, password: str) -> bytes:
    """``key`` as cosign writes it (``cosign.key``): scrypt N=65536, r=8, p=1, secretbox."""
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
    from nacl.secret import SecretBox

    der = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    salt, nonce = os.urandom(32), os.urandom(SecretBox.NONCE_SIZE)
    secret = Scrypt(salt=salt, length=SecretBox.KEY_SIZE, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(
        password.encode()
    )
    sealed = SecretBox(secret).encrypt(der, nonce).ciphertext
    doc = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    body = base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (f"-----BEGIN {PEM_LABEL}-----\n" + "\n".join(lines) + f"\n-----END {PEM_LABEL}-----\n").encode()


def public_key_pem(key: Any) -> bytes:
    """The ``cosign.pub`` form: a PKIX ``PUBLIC KEY`` PEM."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))


def generate(password: str) -> tuple[bytes, bytes]:
    """A new P-256 key pair as (``cosign.key``, ``cosign.pub``) bytes."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return encrypt_private_key(key, password), public_key_pem(key)
