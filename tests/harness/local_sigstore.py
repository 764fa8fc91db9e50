"""A local Sigstore instance that really issues: a Fulcio CA with a CT log, and a Rekor v1 log.

The public Sigstore cannot be reached from here. To check what gopipe produces with the real
verifiers (``cosign verify-blob --bundle --trusted-root``, sigstore-python), this server does
what the two services do, by their published formats, with keys of its own:

- **Fulcio** ``POST /api/v2/signingCert``: checks the CSR's self-signature (sigstore-python)
  or the proof of possession (cosign), takes the identity from the OIDC token's
  ``job_workflow_ref`` (``https://github.com/<ref>``, as Fulcio does for GitHub's issuer; the
  token's signature is not checked: it is the test's own), and issues a 10-minute leaf for
  the key: empty subject, critical URI SAN, code-signing EKU, the
  issuer in Fulcio's extensions ``1.3.6.1.4.1.57264.1.1`` (raw) and ``.1.8`` (UTF8String), and
  one embedded precertificate SCT (RFC 6962) signed by its CT log key.
- **Rekor v1** ``POST /api/v1/log/entries``: canonicalizes the proposed entry (RFC 8785),
  appends it to a log of its own, and answers with the entry, its signed entry timestamp
  (ECDSA over the canonical ``{body, integratedTime, logID, logIndex}``) and an inclusion
  proof with a signed checkpoint (a signed note) over the whole log (an RFC 6962 Merkle tree).

The trusted root it publishes (:meth:`trusted_root_json`) is sigstore's ``TrustedRoot`` JSON;
:meth:`trust_config_json` wraps it with a signing config naming this server.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
import threading
import time
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from tests.harness.sigstore_endpoints import FULCIO_PATH, Reply, Seen, SigstoreEndpoints

REKOR_PATH = "/api/v1/log/entries"
ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
SCT_LIST = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
_SINCE = "2020-01-01T00:00:00Z"


def _spki(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_id(key: ec.EllipticCurvePrivateKey) -> bytes:
    return hashlib.sha256(_spki(key)).digest()


def _der_octets(data: bytes) -> bytes:
    """DER OCTET STRING (what the SCT list extension's value is)."""
    n = len(data)
    if n < 0x80:
        head = bytes([n])
    else:
        size = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(size)]) + size
    return b"\x04" + head + data


def _der_utf8(text: str) -> bytes:
    data = text.encode()
    assert len(data) < 0x80
    return b"\x0c" + bytes([len(data)]) + data


def _public_key_json(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    return {
        "rawBytes": base64.b64encode(_spki(key)).decode(),
        "keyDetails": "PKIX_ECDSA_P256_SHA_256",
        "validFor": {"start": _SINCE},
    }


def _leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _split(n: int) -> int:
    """The largest power of two below ``n`` (RFC 6962's k)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _tree_hash(leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH over leaf hashes."""
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return hashlib.sha256(b"\x01" + _tree_hash(leaves[:k]) + _tree_hash(leaves[k:])).digest()


def _audit_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 PATH(m, D[n]): the inclusion proof of leaf ``m``, leaf to root."""
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*_audit_path(m, leaves[:k]), _tree_hash(leaves[k:])]
    return [*_audit_path(m - k, leaves[k:]), _tree_hash(leaves[:k])]


def _canonical_entry(proposed: dict[str, Any]) -> dict[str, Any]:
    """What Rekor stores for a proposed entry: a ``hashedrekord`` as proposed; a ``dsse`` as
    the envelope's and payload's SHA-256 with each signature and its verifier."""
    if proposed.get("kind") != "dsse":
        return proposed
    content = proposed["spec"]["proposedContent"]
    envelope = json.loads(content["envelope"])
    payload = base64.b64decode(envelope["payload"])
    verifier = content["verifiers"][0]
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {
                "algorithm": "sha256",
                "value": hashlib.sha256(content["envelope"].encode()).hexdigest(),
            },
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            "signatures": [{"signature": s["sig"], "verifier": verifier} for s in envelope["signatures"]],
        },
    }


class LocalSigstore(SigstoreEndpoints):
    """The token service of :class:`SigstoreEndpoints`, plus a Fulcio and a Rekor that issue."""

    def __init__(self, request_token: str, workflow_ref: str) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        self.rekor_key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gopipe-test-sigstore")])
        self.ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.ca_key.public_key()), critical=False
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        self.entries: list[dict[str, Any]] = []
        # RFC 6962 leaf hashes of the whole log; one entry of its own first, so the entries
        # gopipe and cosign make have nonzero indexes (protobuf JSON omits a zero logIndex,
        # which sigstore-python then refuses, and no real log has an entry 0 to offer)
        self.leaves: list[bytes] = [_leaf_hash(b"gopipe-test-rekor genesis")]
        self._log_lock = threading.Lock()
        super().__init__(request_token, workflow_ref)

    # -- published trust ------------------------------------------------------------------
    def trusted_root(self) -> dict[str, Any]:
        ca_der = self.ca_cert.public_bytes(serialization.Encoding.DER)
        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [
                {
                    "baseUrl": self.url,
                    "hashAlgorithm": "SHA2_256",
                    "publicKey": _public_key_json(self.rekor_key),
                    "logId": {"keyId": base64.b64encode(_key_id(self.rekor_key)).decode()},
                }
            ],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "gopipe-test-sigstore", "commonName": ""},
                    "uri": self.url,
                    "certChain": {"certificates": [{"rawBytes": base64.b64encode(ca_der).decode()}]},
                    "validFor": {"start": _SINCE},
                }
            ],
            "ctlogs": [
                {
                    "baseUrl": self.url,
                    "hashAlgorithm": "SHA2_256",
                    "publicKey": _public_key_json(self.ct_key),
                    "logId": {"keyId": base64.b64encode(_key_id(self.ct_key)).decode()},
                }
            ],
            "timestampAuthorities": [],
        }

    def trusted_root_json(self) -> str:
        return json.dumps(self.trusted_root())

    def trust_config_json(self) -> str:
        service = {"url": self.url, "majorApiVersion": 1, "validFor": {"start": _SINCE}, "operator": "local"}
        return json.dumps(
            {
                "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
                "trustedRoot": self.trusted_root(),
                "signingConfig": {
                    "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                    "caUrls": [service],
                    "oidcUrls": [],
                    "rekorTlogUrls": [service],
                    "tsaUrls": [],
                    "rekorTlogConfig": {"selector": "ANY"},
                    "tsaConfig": {"selector": "ANY"},
                },
            }
        )

    # -- the services ---------------------------------------------------------------------
    def answer(self, seen: Seen) -> Reply:
        if seen.method == "POST" and seen.path in (FULCIO_PATH, REKOR_PATH):
            with self._lock:
                self.requests.append(seen)
                queued = self.faults.get(seen.path) or []
                if queued:
                    return queued.pop(0)
            handler = self._fulcio if seen.path == FULCIO_PATH else self._rekor
            status, body = handler(seen)
            headers = {"Content-Type": "application/json"}
            if seen.path == REKOR_PATH and status == 201:  # Rekor names the new entry's UUID
                (uuid,) = body
                headers |= {"ETag": uuid, "Location": f"{REKOR_PATH}/{uuid}"}
            return Reply(status, json.dumps(body).encode(), headers)
        return super().answer(seen)

    def _fulcio(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        """Both forms of Fulcio's ``CreateSigningCertificateRequest``: a CSR (sigstore-python),
        or ``publicKeyRequest`` with a proof of possession, the key's signature over the
        token's ``sub`` (cosign); the token in the ``Authorization`` header or in the body's
        ``credentials.oidcIdentityToken``."""
        try:
            request = json.loads(seen.body)
            token = seen.headers.get("authorization", "").removeprefix("Bearer ")
            token = (request.get("credentials") or {}).get("oidcIdentityToken") or token
            claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
            if "publicKeyRequest" in request:
                key_request = request["publicKeyRequest"]
                public = serialization.load_pem_public_key(key_request["publicKey"]["content"].encode())
                proof = base64.b64decode(key_request["proofOfPossession"])
            else:
                csr = x509.load_pem_x509_csr(base64.b64decode(request["certificateSigningRequest"]))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return 400, {"code": 3, "message": "malformed request"}
        if "publicKeyRequest" in request:
            try:
                assert isinstance(public, ec.EllipticCurvePublicKey)
                public.verify(proof, str(claims["sub"]).encode(), ec.ECDSA(hashes.SHA256()))
            except (AssertionError, InvalidSignature, KeyError):
                return 400, {"code": 3, "message": "proof of possession invalid"}
        elif not csr.is_signature_valid:
            return 400, {"code": 3, "message": "CSR signature invalid"}
        else:
            public = csr.public_key()
        identity = f"https://github.com/{claims['job_workflow_ref']}"
        issuer = str(claims["iss"])
        leaf = self._issue(public, identity, issuer)
        chain = [c.public_bytes(serialization.Encoding.PEM).decode() for c in (leaf, self.ca_cert)]
        return 200, {"signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}}

    def _issue(self, public: Any, identity: str, issuer: str) -> x509.Certificate:
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.ca_cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(seconds=30))
            .not_valid_after(now + dt.timedelta(minutes=10))
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()), critical=False
            )
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]), critical=True
            )
            .add_extension(x509.UnrecognizedExtension(ISSUER_V1, issuer.encode()), critical=False)
            .add_extension(x509.UnrecognizedExtension(ISSUER_V2, _der_utf8(issuer)), critical=False)
        )
        # The precertificate is the same TBS without the SCT list: sign it, then embed the SCT.
        precert = builder.sign(self.ca_key, hashes.SHA256())
        tbs = precert.tbs_certificate_bytes
        stamp = int(time.time() * 1000)
        signed = struct.pack(
            f"!BBQH32sBBB{len(tbs)}sH",
            0,  # v1
            0,  # certificate_timestamp
            stamp,
            1,  # precert_entry
            hashlib.sha256(
                self.ca_key.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            ).digest(),
            *struct.pack("!I", len(tbs))[1:],
            tbs,
            0,
        )
        sig = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        sct = struct.pack(f"!B32sQHBBH{len(sig)}s", 0, _key_id(self.ct_key), stamp, 0, 4, 3, len(sig), sig)
        listed = struct.pack("!H", len(sct)) + sct
        sct_list = struct.pack("!H", len(listed)) + listed
        return builder.add_extension(
            x509.UnrecognizedExtension(SCT_LIST, _der_octets(sct_list)), critical=False
        ).sign(self.ca_key, hashes.SHA256())

    def _rekor(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        try:
            proposed = json.loads(seen.body)
        except ValueError:
            return 400, {"code": 400, "message": "malformed entry"}
        body = rfc8785.dumps(_canonical_entry(proposed))
        with self._log_lock:
            index = len(self.leaves)
            integrated = int(time.time())
            log_id = _key_id(self.rekor_key).hex()
            body_b64 = base64.b64encode(body).decode()
            promise = rfc8785.dumps(
                {"body": body_b64, "integratedTime": integrated, "logID": log_id, "logIndex": index}
            )
            set_sig = self.rekor_key.sign(promise, ec.ECDSA(hashes.SHA256()))
            self.leaves.append(_leaf_hash(body))
            size = len(self.leaves)
            root = _tree_hash(self.leaves)
            path = _audit_path(index, self.leaves)
            origin = "gopipe-test-rekor - 1"
            note = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
            note_sig = self.rekor_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
            hint = _key_id(self.rekor_key)[:4]
            checkpoint = f"{note}\n— {origin.split(' ')[0]} {base64.b64encode(hint + note_sig).decode()}\n"
            entry = {
                "body": body_b64,
                "integratedTime": integrated,
                "logID": log_id,
                "logIndex": index,
                "verification": {
                    "signedEntryTimestamp": base64.b64encode(set_sig).decode(),
                    "inclusionProof": {
                        "checkpoint": checkpoint,
                        "hashes": [h.hex() for h in path],
                        "logIndex": index,
                        "rootHash": root.hex(),
                        "treeSize": size,
                    },
                },
            }
            self.entries.append(entry)
        return 201, {hashlib.sha256(body).hexdigest(): entry}
