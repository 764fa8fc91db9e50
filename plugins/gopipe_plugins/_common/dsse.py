"""DSSE envelopes (Dead Simple Signing Envelope), signed with an ECDSA P-256 key.

The signature covers the pre-authentication encoding ``PAE(type, body)`` =
``"DSSEv1" SP len(type) SP type SP len(body) SP body``, so the payload type cannot be swapped.
Signatures are ASN.1 DER ECDSA over SHA-256, base64 in ``sig``, which is what cosign
writes and ``cosign verify-blob-attestation`` / ``verify-attestation`` check. Hand-written
because it is a dozen lines over ``cryptography``; securesystemslib's ``Envelope`` would add
a dependency for the same bytes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

IN_TOTO = "application/vnd.in-toto+json"


def pae(payload_type: str, body: bytes) -> bytes:
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def sign(payload: bytes, key: Any, payload_type: str = IN_TOTO, keyid: str = "") -> dict[str, Any]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    sig = key.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": keyid, "sig": base64.b64encode(sig).decode()}],
    }


def verify(envelope: Mapping[str, Any], public_key: Any) -> bytes:
    """The payload when one signature verifies with ``public_key``; ``ValueError`` otherwise."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        payload = base64.b64decode(str(envelope["payload"]), validate=True)
        payload_type = str(envelope["payloadType"])
        sigs = [base64.b64decode(str(s["sig"]), validate=True) for s in envelope["signatures"]]
    except (KeyError, TypeError, ValueError):
        raise ValueError("not a DSSE envelope") from None
    for sig in sigs:
        try:
            public_key.verify(sig, pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            continue
        return payload
    raise ValueError("no signature in the envelope verifies with the key")


def canonical(obj: Any) -> bytes:
    """Stable JSON bytes for a payload: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
