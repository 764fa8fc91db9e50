"""Hostile input to deploy's keyless ``require_signed`` policy: its options, and what a
registry serves as Sigstore bundles.

The bundles are signed in-process by gopipe's keyless signer against the local Fulcio and
Rekor of ``tests/harness/local_sigstore.py`` (the public Sigstore cannot be reached from
here); sigstore-python's verifier then checks them against that instance's trusted root.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.harness.local_sigstore import LocalSigstore
from tests.harness.referrers_registry import ReferrersRegistry
from tests.harness.sigstore_endpoints import job_token
from tests.hostile.conftest import Sandbox

from gopipe_oci import RegistryClient
from gopipe_plugins._common import dsse, keyless, keyless_verify
from gopipe_plugins._common import sigstore_bundle as sb
from gopipe_plugins._common.provenance import PREDICATE_TYPE

WORKFLOW_REF = "octo/hello/.github/workflows/gopipe-cd.yml@refs/tags/v1.2.3"
IDENTITY = f"https://github.com/{WORKFLOW_REF}"
DEPLOY = 'targets = ["linux/amd64"]\n[tool.gopipe.deploy]\nrequire_signed = true\n'


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (
            f'certificate_identity = "{IDENTITY}"\ncertificate_identity_regexp = "^https://"\n',
            "tool.gopipe.deploy.certificate_identity_regexp: certificate_identity and "
            "certificate_identity_regexp are both set",
        ),
        (
            f'public_key = "cosign.pub"\ncertificate_identity = "{IDENTITY}"\n',
            "tool.gopipe.deploy.public_key: public_key and a keyless certificate identity are both set",
        ),
        ('certificate_identity_regexp = "(unclosed"\n', "not a regular expression"),
        (
            f'certificate_identity = "{IDENTITY}"\ncertificate_oidc_issuer = "http://plain.example"\n',
            "tool.gopipe.deploy.certificate_oidc_issuer: 'http://plain.example' is not an https URL",
        ),
        (
            f'certificate_identity = "{IDENTITY}"\ncertificate_oidc_issuer = "https://a.example\\n--evil"\n',
            "tool.gopipe.deploy.certificate_oidc_issuer",
        ),
        (f'certificate_identity = "{IDENTITY}"\ncertificate_oidc_issuer = ""\n', "is not an https URL"),
        (
            f'certificate_identity = "{IDENTITY}"\ntrusted_root = "../root.json"\n',
            "tool.gopipe.deploy.trusted_root",
        ),
        (
            f'certificate_identity = "{IDENTITY}"\ntrusted_root = "/etc/hostname"\n',
            "tool.gopipe.deploy.trusted_root",
        ),
        (
            f'certificate_identity = "{IDENTITY}"\ntrusted_root = "nowhere.json"\n',
            "nowhere.json is not a file",
        ),
        (
            f'certificate_identity = "{IDENTITY}"\ntrusted_root = "link.json"\n',
            "tool.gopipe.deploy.trusted_root",
        ),
        (
            f'certificate_identity = "{IDENTITY}"\ntrusted_root = "garbage.json"\n',
            "tool.gopipe.deploy.trusted_root: garbage.json: not a Sigstore TrustedRoot JSON",
        ),
        (
            f'certificate_identity = "{IDENTITY}"\ntrusted_root = "other.json"\n',
            "tool.gopipe.deploy.trusted_root: other.json: not a Sigstore TrustedRoot JSON",
        ),
    ],
    ids=[
        "identity-and-regexp",
        "key-and-identity",
        "bad-regexp",
        "plain-http-issuer",
        "issuer-with-newline",
        "empty-issuer",
        "root-dotdot",
        "root-absolute",
        "root-missing",
        "root-symlink-out",
        "root-not-json",
        "root-other-json",
    ],
)
def test_bad_keyless_policy_options_are_config_errors(sandbox: Sandbox, options: str, says: str) -> None:
    (sandbox.repo / "cosign.pub").write_text("never read: the run stops at the option checks\n")
    (sandbox.sentinel / "root.json").write_text(
        '{"mediaType": "application/vnd.dev.sigstore.trustedroot+json"}'
    )
    (sandbox.repo / "link.json").symlink_to(sandbox.sentinel / "root.json")
    (sandbox.repo / "garbage.json").write_text("$(touch ../pwned) {not json\n")
    (sandbox.repo / "other.json").write_text('{"mediaType": "application/vnd.oci.image.index.v1+json"}')
    sandbox.before = sandbox.snapshot()
    sandbox.config(DEPLOY + options)
    outcome = sandbox.run("run", "deploy", "--plain")
    sandbox.check(outcome, code=2, says=says)


@pytest.fixture
def sigstore() -> Iterator[LocalSigstore]:
    server = LocalSigstore("hostile-keyless-request-token", WORKFLOW_REF)
    try:
        yield server
    finally:
        server.close()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.slow  # a registry with the referrers API (built from Go)
def test_hostile_bundles_never_count_and_never_raise(
    referrers_registry: ReferrersRegistry, sigstore: LocalSigstore, tmp_path: Path
) -> None:
    """What a registry (or whoever can push to it) serves as bundles: garbage, a key-signed
    bundle, a valid keyless bundle about another digest, one by another workflow, one whose
    certificate comes from another Sigstore instance. None counts and none raises; the
    reasons are kept. Then the real signature and provenance do count."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from sigstore.models import ClientTrustConfig, TrustedRoot
    from sigstore.oidc import IdentityToken
    from sigstore.verify import Verifier

    signers = contextlib.ExitStack()

    def signer_for(server: LocalSigstore, workflow_ref: str) -> keyless.KeylessSigner:
        config = ClientTrustConfig.from_json(server.trust_config_json())
        token = IdentityToken(job_token("sigstore", workflow_ref))
        return signers.enter_context(keyless.keyless_signer(config, token, lambda s: s))

    repo = "hostile/keyless"
    (tmp_path / "root.json").write_text(sigstore.trusted_root_json())
    root = TrustedRoot.from_file(str(tmp_path / "root.json"))
    trust = keyless_verify.KeylessTrust(
        Verifier(trusted_root=root), keyless_verify.IdentityPolicy(keyless.GITHUB_ISSUER, IDENTITY)
    )
    with signers, RegistryClient(referrers_registry.host, insecure=True, use_docker_config=False) as client:
        client.upload_blob(repo, _digest(sb.EMPTY_CONFIG), sb.EMPTY_CONFIG)
        image = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": sb.OCI_MANIFEST,
                "config": {"mediaType": sb.EMPTY_MEDIA_TYPE, "size": 2, "digest": _digest(sb.EMPTY_CONFIG)},
                "layers": [],
            }
        ).encode()
        target = client.put_manifest(repo, "v1", image, sb.OCI_MANIFEST)
        subject = {"mediaType": sb.OCI_MANIFEST, "digest": target, "size": len(image)}

        def attach(bundle: bytes | str, predicate: str = sb.SIGN_PREDICATE) -> None:
            data = bundle.encode() if isinstance(bundle, str) else bundle
            client.upload_blob(repo, _digest(data), data)
            manifest = sb.bundle_manifest(data, subject, predicate, "2026-01-01T00:00:00Z")
            client.put_manifest(repo, _digest(manifest), manifest, sb.OCI_MANIFEST)

        def statement(digest: str, predicate: str = sb.SIGN_PREDICATE) -> bytes:
            if predicate == sb.SIGN_PREDICATE:
                return sb.signature_statement(digest, "hostile/keyless")
            doc = {
                "_type": sb.STATEMENT_V1,
                "subject": [
                    {"name": "hostile/keyless", "digest": {"sha256": digest.removeprefix("sha256:")}}
                ],
                "predicateType": predicate,
                "predicate": {"buildDefinition": {"buildType": "x"}, "runDetails": {"builder": {"id": "y"}}},
            }
            return dsse.canonical(doc)

        ours = signer_for(sigstore, WORKFLOW_REF)
        problems = keyless_verify.image_problems(client, repo, target, trust)
        assert problems == [keyless_verify.NO_SIGNATURE, keyless_verify.NO_PROVENANCE]

        attach(b"not json at all")
        attach(b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "dsseEnvelope": []}')
        key = ec.generate_private_key(ec.SECP256R1())
        attach(sb.make_bundle(dsse.sign(statement(target), key), key.public_key()))  # key-signed
        attach(ours.sign_statement(statement("sha256:" + "0" * 64)))  # ours, about another digest
        attach(
            signer_for(sigstore, WORKFLOW_REF.replace("gopipe-cd", "other")).sign_statement(statement(target))
        )
        stranger = LocalSigstore("stranger-request-token", WORKFLOW_REF)
        try:
            attach(signer_for(stranger, WORKFLOW_REF).sign_statement(statement(target)))  # another instance
        finally:
            stranger.close()
        problems = keyless_verify.image_problems(client, repo, target, trust)
        assert problems[:2] == [keyless_verify.ELSEWHERE, keyless_verify.NO_PROVENANCE], problems
        assert problems[2].startswith(
            "5 bundle(s) rejected, first: "
        )  # the about-another-digest one verifies
        assert len(trust.rejected) == 5

        attach(ours.sign_statement(statement(target)))
        attach(ours.sign_statement(statement(target, PREDICATE_TYPE)), PREDICATE_TYPE)
        assert keyless_verify.image_problems(client, repo, target, trust) == []
