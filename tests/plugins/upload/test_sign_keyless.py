"""Keyless ``sign`` end to end against a local Sigstore, checked by the real cosign CLI.

The public Sigstore (Fulcio, Rekor) and GitHub's token service cannot be reached from here,
so this is **not** the production path's network: ``tests/harness/local_sigstore.py`` is a
Fulcio and a Rekor of its own (its own CA, CT log and log keys, the services' documented
formats) plus the Actions token service, configured through sigstore's public trust-config
format. Everything on gopipe's side is what runs in Actions: sigstore-python fetches the
token, gets a certificate, logs each signature; gopipe stores the bundles and the tag-scheme
signatures and attestations. ``cosign verify-blob --bundle``, ``cosign verify`` and ``cosign
verify-attestation`` (v3, ``--trusted-root`` = the local roots) then check identity and
issuer, the SCT, the Rekor entry and the signature.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.harness.cosign import cosign
from tests.harness.local_sigstore import REKOR_PATH, LocalSigstore
from tests.harness.registry import Registry, drop_referrers_index
from tests.plugins.upload.conftest import artifacts, env_ref, set_tables

from gopipe.testing import RunResult
from gopipe_oci import RegistryClient
from gopipe_plugins._common import keyless, keyless_verify
from gopipe_plugins._common.sigstore_bundle import SIGN_PREDICATE as SIGN_V1

pytestmark = pytest.mark.slow  # Go builds, a registry and the cosign CLI

REQUEST_TOKEN = "keyless-e2e-request-token-0a1b2c3d4e5f"
WORKFLOW_REF = "octo/hello/.github/workflows/gopipe-cd.yml@refs/tags/v1.2.3"
IDENTITY = f"https://github.com/{WORKFLOW_REF}"


@pytest.fixture
def sigstore(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalSigstore]:
    server = LocalSigstore(REQUEST_TOKEN, WORKFLOW_REF)
    env = {
        "GITHUB_ACTIONS": "true",
        keyless.REQUEST_URL: server.token_url,
        keyless.REQUEST_TOKEN: REQUEST_TOKEN,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_WORKFLOW_REF": WORKFLOW_REF,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        yield server
    finally:
        server.close()


def _verify_args(root: Path, identity: str = IDENTITY) -> list[str]:
    return [
        "--trusted-root", str(root),
        "--certificate-identity", identity,
        "--certificate-oidc-issuer", keyless.GITHUB_ISSUER,
    ]  # fmt: skip


def test_keyless_signatures_verify_with_cosign_by_identity_and_issuer(
    cd_repo: Path,
    sigstore: LocalSigstore,
    plain_registry: Registry,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    (cd_repo / "sigstore-trust.json").write_text(sigstore.trust_config_json())
    root = tmp_path / "trusted_root.json"
    root.write_text(sigstore.trusted_root_json())
    set_tables(
        cd_repo,
        package={"providers": ["oci-image", "archive"]},
        upload={
            "providers": ["registry", "provenance", "sign"],
            "registry": {"registry": env_ref("REG_HOST"), "insecure": True},
            "sign": {
                "mode": "keyless",
                "trust_config": "sigstore-trust.json",
                "identity": IDENTITY,
                "insecure": True,
            },
        },
    )
    monkeypatch.setenv("REG_HOST", plain_registry.host)
    result = gopipe_run(cd_repo, "package", "upload")
    assert result.exit_code == 0, result.report
    text = json.dumps(result.report)
    assert REQUEST_TOKEN not in text and all(t not in text for t in sigstore.issued)

    bundles = [a for a in artifacts(result, "signature") if a["extra"].get("scheme") == "sigstore-bundle"]
    assert {a["extra"]["of"] for a in bundles} >= {a["name"] for a in artifacts(result, "archive")}
    for bundle in bundles:
        assert bundle["extra"]["identity"] == IDENTITY
        signed = cd_repo / bundle["path"].removesuffix(keyless.BUNDLE_SUFFIX)
        res = cosign(
            "verify-blob", "--bundle", str(cd_repo / bundle["path"]), *_verify_args(root), str(signed)
        )
        assert res.returncode == 0 and "Verified OK" in res.stdout + res.stderr, res.stderr
    # sigstore-python's own verifier accepts the same bundle (its GitHub policy, by identity)
    signed = cd_repo / bundles[0]["path"].removesuffix(keyless.BUNDLE_SUFFIX)
    res = subprocess.run(
        [
            sys.executable, "-m", "sigstore", "--trust-config", str(cd_repo / "sigstore-trust.json"),
            "verify", "github", "--bundle", str(cd_repo / bundles[0]["path"]), "--cert-identity", IDENTITY,
            str(signed),
        ],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0 and f"OK: {signed}" in res.stdout + res.stderr, res.stderr
    # another workflow's identity does not verify
    first = bundles[0]
    other = IDENTITY.replace("gopipe-cd.yml", "other.yml")
    res = cosign(
        "verify-blob", "--bundle", str(cd_repo / first["path"]), *_verify_args(root, other),
        str(cd_repo / first["path"].removesuffix(keyless.BUNDLE_SUFFIX)),
    )  # fmt: skip
    assert res.returncode != 0 and "no matching CertificateIdentity" in res.stderr

    # the provenance provider's statements about files, signed keyless as DSSE bundles
    provenance = [
        a for a in artifacts(result, "attestation") if a["extra"].get("scheme") == "sigstore-bundle"
    ]
    archives = {a["name"]: cd_repo / a["path"] for a in artifacts(result, "archive")}
    assert set(archives) <= {a["extra"]["subject"] for a in provenance}
    for statement in provenance:
        assert statement["extra"]["identity"] == IDENTITY
        if statement["extra"]["subject"] not in archives:
            continue
        subject = archives[statement["extra"]["subject"]]
        check = ["--bundle", str(cd_repo / statement["path"]), "--type", "slsaprovenance1"]
        res = cosign("verify-blob-attestation", *check, *_verify_args(root), str(subject))
        assert res.returncode == 0 and "Verified OK" in res.stdout + res.stderr, res.stderr
        other_file = next(f for n, f in archives.items() if n != statement["extra"]["subject"])
        res = cosign("verify-blob-attestation", *check, *_verify_args(root), str(other_file))
        assert res.returncode != 0  # the statement is about its own file only

    (ref,) = artifacts(result, "image-ref")
    repository, index = ref["extra"]["repository"], ref["extra"]["digest"]
    signed_images = {a["extra"]["signed"] for a in artifacts(result, "image-signature")}
    assert f"{repository}@{index}" in signed_images and len(signed_images) == 3  # index + 2 platforms
    # cosign v3 reads Sigstore bundles first. docker-registry 2.8 has no referrers API, so
    # gopipe lists them in the referrers tag schema (an index at sha256-<hex>); cosign lists
    # every bundle of the identity as a claim: the cosign/sign/v1 signature and attestations.
    for reference in sorted(signed_images):
        claims = _image_claims(root, reference)
        (signature,) = [c for c in claims if c["critical"]["type"] == SIGN_V1]
        assert signature["critical"]["image"]["docker-manifest-digest"] == reference.rsplit("@", 1)[1]
    res = cosign("verify", *_verify_args(root, other), "--allow-http-registry", f"{repository}@{index}")
    assert res.returncode != 0, res.stdout
    platforms = sorted(signed_images - {f"{repository}@{index}"})
    _verify_attestations(root, repository, index, platforms, other)
    attested = artifacts(result, "image-attestation")
    assert len(attested) == 1 + len(platforms)
    # one Rekor entry per signature: each file and file statement, each manifest (its
    # tag-scheme signature and its signature bundle), each attestation (the .att layer and
    # its bundle share one)
    entries = len(bundles) + len(provenance) + 2 * len(signed_images) + len(attested)
    assert len(sigstore.seen(REKOR_PATH)) == entries

    # deploy's require_signed with certificate_identity accepts them (in-process, the same check)
    host, _, path = repository.partition("/")
    verifier = keyless_verify.load_verifier(root)
    trust = keyless_verify.KeylessTrust(
        verifier, keyless_verify.IdentityPolicy(keyless.GITHUB_ISSUER, IDENTITY)
    )
    stranger = keyless_verify.KeylessTrust(
        verifier, keyless_verify.IdentityPolicy(keyless.GITHUB_ISSUER, other)
    )
    with RegistryClient(host, insecure=True, use_docker_config=False) as client:
        assert keyless_verify.image_problems(client, path, index, trust) == []
        assert keyless_verify.image_problems(client, path, platforms[0].rsplit("@", 1)[1], trust) == [
            keyless_verify.NO_PROVENANCE
        ]
        refused = keyless_verify.image_problems(client, path, index, stranger)
        assert refused[:2] == [keyless_verify.NO_SIGNATURE, keyless_verify.NO_PROVENANCE], refused
        assert IDENTITY in refused[2]  # why: the certificate names this workflow, not the other

    # A rerun of the same workflow@ref adds no second image signature and no second bundle of
    # a type (files and attestations are signed again, the .att layers replaced, not added).
    before = {r: _image_claims(root, r) for r in signed_images}
    result = gopipe_run(cd_repo, "package", "upload")
    assert result.exit_code == 0, result.report
    assert {r: _image_claims(root, r) for r in signed_images} == before
    assert len(sigstore.seen(REKOR_PATH)) == 2 * entries - 2 * len(signed_images)

    # With the tag-schema indexes deleted, cosign falls back to the tag scheme (cosign v2's
    # storage), which gopipe writes too: the certificate names identity and issuer.
    for reference in signed_images:
        drop_referrers_index(host, path, reference.rsplit("@", 1)[1])
    for reference in sorted(signed_images):
        (claim,) = _image_claims(root, reference)
        assert claim["critical"]["image"]["docker-manifest-digest"] == reference.rsplit("@", 1)[1]
        assert claim["optional"]["Subject"] == IDENTITY
        assert claim["optional"]["Issuer"] == keyless.GITHUB_ISSUER
    res = cosign("verify", *_verify_args(root, other), "--allow-http-registry", f"{repository}@{index}")
    assert res.returncode != 0, res.stdout
    _verify_attestations(root, repository, index, platforms, other)


def _image_claims(root: Path, reference: str) -> list[dict[str, Any]]:
    res = cosign("verify", *_verify_args(root), "--allow-http-registry", "--output", "json", reference)
    assert res.returncode == 0, res.stderr
    return list(json.loads(res.stdout))


def _verify_attestations(root: Path, repository: str, index: str, platforms: list[str], other: str) -> None:
    """The SLSA statement on the index, a CycloneDX statement on each platform; exactly one of
    each (a rerun replaces, never adds), and none for another identity."""
    checks = [("slsaprovenance1", f"{repository}@{index}")] + [("cyclonedx", p) for p in platforms]
    for predicate, reference in checks:
        res = cosign(
            "verify-attestation", *_verify_args(root), "--type", predicate, "--allow-http-registry", reference
        )
        assert res.returncode == 0, res.stderr
        (line,) = [x for x in res.stdout.splitlines() if x.startswith("{")]
        statement = json.loads(base64.b64decode(json.loads(line)["payload"]))
        assert statement["subject"][0]["digest"] == {"sha256": reference.rsplit(":", 1)[1]}
    res = cosign(
        "verify-attestation", *_verify_args(root, other), "--type", "slsaprovenance1",
        "--allow-http-registry", f"{repository}@{index}",
    )  # fmt: skip
    assert res.returncode != 0
