"""Hostile input to the supply-chain options: waivers and the clock they are judged by, the
sign and require_signed options, and the referrers a registry serves to require_signed.

Each case runs the real ``gopipe`` command in the sandbox (see ``conftest.py``): exit 2, one
line naming the key, no traceback, a report, nothing outside the repository touched. (The
referrers case calls the check in-process against the real referrers registry.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.harness.referrers_registry import ReferrersRegistry
from tests.hostile.conftest import Sandbox

pytestmark = pytest.mark.slow

LINT = (
    'targets = ["linux/amd64"]\n[tool.gopipe.lint]\nproviders = ["govulncheck"]\n'
    "[tool.gopipe.lint.govulncheck]\n"
)
KEY = "tool.gopipe.lint.govulncheck.waivers"


@pytest.mark.parametrize(
    ("waivers", "says"),
    [
        ('[{ id = "GO-2025-1234", until = "2027-02-30", reason = "r" }]', f"{KEY}[0]: waiver GO-2025-1234"),
        ('[{ id = "GO-2025-1234", until = "someday", reason = "r" }]', "is not a date (YYYY-MM-DD)"),
        ('[{ id = "GO-2025-1234", until = 2027-03-31, reason = "r" }]', f"{KEY}[0].until: expected string"),
        ('[{ id = "GO-2025-1234", until = "2027-03-31" }]', f"{KEY}[0].reason: required key is missing"),
        ('[{ id = "$(touch ../pwned)", until = "2027-03-31", reason = "r" }]', "is not an OSV id"),
        ('"GO-2025-1234"', f"{KEY}: expected array"),
        (
            '[{ id = "GO-2025-1234", until = "2027-03-31", reason = "a" },'
            ' { id = "go-2025-1234", until = "2028-01-01", reason = "b" }]',
            "two waivers for go-2025-1234",
        ),
    ],
    ids=["impossible-date", "not-a-date", "toml-date", "no-reason", "shell-in-id", "not-a-list", "twice"],
)
def test_bad_waivers_are_config_errors(sandbox: Sandbox, waivers: str, says: str) -> None:
    sandbox.config(LINT + f"waivers = {waivers}\n")
    outcome = sandbox.run("run", "lint", "--plain")
    sandbox.check(outcome, code=2, says=says)
    assert not (sandbox.sentinel / "pwned").exists()


@pytest.mark.parametrize("now", ["yesterday", "2027-04-01T00:00:00", "\x1b[31m2027"])
def test_a_bad_clock_is_a_config_error(sandbox: Sandbox, now: str) -> None:
    sandbox.config(LINT + 'waivers = [{ id = "GO-2025-1234", until = "2027-03-31", reason = "r" }]\n')
    outcome = sandbox.run("run", "lint", "--plain", env={"GOPIPE_NOW": now})
    sandbox.check(outcome, code=2, says="GOPIPE_NOW")


# -- the provenance signer's key and password ---------------------------------------------------
SIGN = (
    'targets = ["linux/amd64"]\n[tool.gopipe.package]\nproviders = ["archive"]\n'
    '[tool.gopipe.upload]\nproviders = ["provenance"]\n[tool.gopipe.upload.provenance]\n'
)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("not a key at all, just text\n", "not a cosign private key"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----\n", "not a cosign"),
        (
            "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nbm90IGpzb24=\n"
            "-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
            "not cosign's encrypted-key JSON",
        ),
    ],
    ids=["text", "rsa-pem", "not-json"],
)
def test_a_key_secret_that_is_not_a_key_is_a_config_error(sandbox: Sandbox, content: str, says: str) -> None:
    (sandbox.repo / "signing.key").write_text(content)
    sandbox.config(SIGN + 'key = { file = "signing.key" }\n')
    outcome = sandbox.run("run", "package", "upload", "--plain", env={"COSIGN_PASSWORD": "whatever-pass"})
    sandbox.check(outcome, code=2, says=says, secrets=[content.strip()])
    assert "tool.gopipe.upload.provenance.key" in outcome.output


def test_a_wrong_password_is_masked(sandbox: Sandbox) -> None:
    from gopipe_plugins._common.cosign_key import generate

    private, _ = generate("the-right-password-1")
    (sandbox.repo / "signing.key").write_bytes(private)
    sandbox.config(SIGN + 'key = { file = "signing.key" }\npassword = { env = "SIGNING_PASSWORD" }\n')
    wrong = "wrong-password-9f3e1c"
    outcome = sandbox.run("run", "package", "upload", "--plain", env={"SIGNING_PASSWORD": wrong})
    sandbox.check(outcome, code=2, says="the password does not open the key", secrets=[wrong])
    assert "check the password in env:SIGNING_PASSWORD" in outcome.output


def test_a_plaintext_key_in_config_is_refused(sandbox: Sandbox) -> None:
    sandbox.config(SIGN + 'key = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"\n')
    outcome = sandbox.run("run", "package", "upload", "--plain")
    sandbox.check(outcome, code=2, says="plaintext secret in config")


def test_an_output_outside_dist_is_refused(sandbox: Sandbox) -> None:
    sandbox.config(SIGN + 'output = "../../outside"\n')
    outcome = sandbox.run("run", "package", "upload", "--plain")
    sandbox.check(outcome, code=2, says="tool.gopipe.upload.provenance.output")


# -- gopipe verify ------------------------------------------------------------------------------
def test_verify_without_a_recorded_build_is_a_usage_error(sandbox: Sandbox) -> None:
    outcome = sandbox.run("verify")
    sandbox.check(outcome, code=2, report=False, says="run `gopipe run build package` first")


def test_verify_with_a_forged_report_stays_inside_the_repository(sandbox: Sandbox) -> None:
    """A report naming files outside the repository and a commit that does not exist: the
    clone fails cleanly, nothing outside is read or written, and no temporary clone stays."""
    import json
    import tempfile
    from pathlib import Path

    out = sandbox.repo / "dist" / "gopipe"
    out.mkdir(parents=True)
    forged = {
        "git": {"sha": "0" * 40},
        "stages": [{"name": "build", "status": "success"}],
        "artifacts": [{"kind": "binary", "name": "x", "path": "../../etc/passwd", "sha256": "ab"}],
    }
    (out / "report.json").write_text(json.dumps(forged))
    before = set(Path(tempfile.gettempdir()).glob("gopipe-verify-*"))
    outcome = sandbox.run("verify")
    sandbox.check(outcome, code=2, report=False, says="git checkout failed")
    assert set(Path(tempfile.gettempdir()).glob("gopipe-verify-*")) == before


def test_verify_compares_no_file_outside_the_repository(tmp_path: Path) -> None:
    """A recorded path that climbs out is compared by digest only, never opened."""
    from gopipe.verify import Recorded, compare

    root, clone = tmp_path / "root", tmp_path / "clone"
    (root).mkdir()
    (clone / "x").mkdir(parents=True)
    (tmp_path / "secret").write_text("outside")
    (clone / "x" / "secret").write_text("inside")
    rec = {"binary:../secret": Recorded("binary:../secret", "binary", "aa", "../secret")}
    new = {"binary:../secret": Recorded("binary:../secret", "binary", "bb", "x/secret")}
    (diff,) = compare(rec, new, root, clone)
    assert diff.first_difference is None and diff.recorded_size is None


# -- the sign uploader ------------------------------------------------------------------------
def test_sign_without_a_key_is_a_config_error(sandbox: Sandbox) -> None:
    sandbox.config(SIGN.replace('"provenance"]', '"sign"]').replace(".provenance]", ".sign]"))
    outcome = sandbox.run("run", "package", "upload", "--plain")
    sandbox.check(outcome, code=2, says="tool.gopipe.upload.sign.key: no signing key")


def test_sign_has_no_wait_any_more(sandbox: Sandbox) -> None:
    """sign runs after the pushers (``after``), it does not poll; an old ``wait`` is named."""
    sandbox.config(
        SIGN.replace('"provenance"]', '"sign"]').replace(".provenance]", ".sign]")
        + 'key = { file = "signing.key" }\nwait = 300\n'
    )
    outcome = sandbox.run("run", "package", "upload", "--plain")
    sandbox.check(outcome, code=2, says="tool.gopipe.upload.sign.wait")


# -- deploy: require_signed -----------------------------------------------------------------------
def test_require_signed_without_a_public_key_is_a_config_error(sandbox: Sandbox) -> None:
    sandbox.config('targets = ["linux/amd64"]\n[tool.gopipe.deploy]\nrequire_signed = true\n')
    outcome = sandbox.run("run", "deploy", "--plain")
    sandbox.check(outcome, code=2, says="require_signed needs public_key")


PUBLIC_KEY = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7m9b5Vq9HfIgV6Tq0mPp3Y9XU4CN\n"
    "-----END PUBLIC KEY-----\n"
)  # never parsed: these runs stop at the path checks


@pytest.mark.parametrize(
    ("value", "setup", "says"),
    [
        ("../ca.pem", "outside", "tool.gopipe.deploy.signature_ca_file"),
        ("/etc/ssl/certs/ca-certificates.crt", "", "tool.gopipe.deploy.signature_ca_file"),
        ("certs/ca.pem", "symlink-out", "tool.gopipe.deploy.signature_ca_file"),
        ("certs/missing.pem", "", "certs/missing.pem is not a file in the repository"),
        ("certs", "dir", "certs is not a file in the repository"),
        ("certs/ca.pem", "not-pem", "certs/ca.pem: not a PEM CA certificate"),
    ],
    ids=["dotdot", "absolute", "symlink-out", "missing", "a-directory", "not-pem"],
)
def test_signature_ca_file_must_be_a_ca_certificate_inside_the_repository(
    sandbox: Sandbox, value: str, setup: str, says: str
) -> None:
    (sandbox.repo / "cosign.pub").write_text(PUBLIC_KEY)
    certs = sandbox.repo / "certs"
    certs.mkdir()
    if setup == "outside":
        (sandbox.sentinel / "ca.pem").write_text("outside the repository\n")
    elif setup == "symlink-out":
        (certs / "ca.pem").symlink_to(sandbox.sentinel / "keep.txt")
    elif setup == "not-pem":
        (certs / "ca.pem").write_text("$(touch ../pwned) not a certificate\n")
    sandbox.before = sandbox.snapshot()
    sandbox.config(
        'targets = ["linux/amd64"]\n[tool.gopipe.deploy]\nrequire_signed = true\n'
        f'public_key = "cosign.pub"\nsignature_ca_file = "{value}"\n'
    )
    outcome = sandbox.run("run", "deploy", "--plain")
    sandbox.check(outcome, code=2, says=says)


@pytest.mark.parametrize("value", ["../cosign.pub", "/etc/hostname", "nowhere/cosign.pub"])
def test_public_key_must_be_a_file_inside_the_repository(sandbox: Sandbox, value: str) -> None:
    (sandbox.sentinel / "cosign.pub").write_text(PUBLIC_KEY)
    sandbox.before = sandbox.snapshot()
    sandbox.config(
        f'targets = ["linux/amd64"]\n[tool.gopipe.deploy]\nrequire_signed = true\npublic_key = "{value}"\n'
    )
    outcome = sandbox.run("run", "deploy", "--plain")
    sandbox.check(outcome, code=2, says="tool.gopipe.deploy.public_key")


# -- deploy: what a registry serves as referrers ------------------------------------------------
def test_require_signed_reads_hostile_referrers_without_crashing_or_trusting_them(
    referrers_registry: ReferrersRegistry,
) -> None:
    """Referrers a registry (or whoever can push to it) serves: a bundle about another digest,
    one by another key, garbage, lying sizes, wrong shapes. None
    counts as a signature, none raises; then one real bundle does count."""
    import json

    from cryptography.hazmat.primitives.asymmetric import ec

    from gopipe_oci import RegistryClient
    from gopipe_plugins._common import dsse
    from gopipe_plugins._common import sigstore_bundle as sb
    from gopipe_plugins._common.cosign_verify import image_problems

    key, stranger = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    repo, repository = "hostile/app", f"{referrers_registry.host}/hostile/app"

    def digest_of(data: bytes) -> str:
        import hashlib

        return "sha256:" + hashlib.sha256(data).hexdigest()

    with RegistryClient(referrers_registry.host, insecure=True, use_docker_config=False) as client:
        client.upload_blob(repo, digest_of(sb.EMPTY_CONFIG), sb.EMPTY_CONFIG)
        image = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": sb.OCI_MANIFEST,
                "config": {"mediaType": sb.EMPTY_MEDIA_TYPE, "size": 2, "digest": digest_of(sb.EMPTY_CONFIG)},
                "layers": [],
            }
        ).encode()
        target = client.put_manifest(repo, "v1", image, sb.OCI_MANIFEST)
        subject = {"mediaType": sb.OCI_MANIFEST, "digest": target, "size": len(image)}

        def attach(layer_bytes: bytes, layer: dict[str, object] | None = None, **manifest: object) -> None:
            client.upload_blob(repo, digest_of(layer_bytes), layer_bytes)
            doc = json.loads(
                sb.bundle_manifest(layer_bytes, subject, sb.SIGN_PREDICATE, "2026-01-01T00:00:00Z")
            )
            if layer is not None:
                doc["layers"] = [layer]
            doc.update(manifest)
            data = json.dumps(doc).encode()
            client.put_manifest(repo, digest_of(data), data, sb.OCI_MANIFEST)

        def bundle(statement_digest: str, signer: object) -> bytes:
            return sb.make_bundle(
                dsse.sign(sb.signature_statement(statement_digest), signer), signer.public_key()
            )  # type: ignore[attr-defined]

        pub = key.public_key()
        assert image_problems(client, repo, repository, target, pub)[0] == "no cosign signature"
        attach(bundle("sha256:" + "0" * 64, key))  # signed by the key, about another digest
        attach(bundle(target, stranger))  # about this digest, by another key
        attach(b"not json at all")
        attach(b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "dsseEnvelope": []}')
        lying = bundle(target, key)  # a real one behind a descriptor that lies about its size
        client.upload_blob(repo, digest_of(lying), lying)
        attach(b"x", {"mediaType": sb.BUNDLE_MEDIA_TYPE, "digest": digest_of(lying), "size": 1 << 40})
        attach(b"y", {"mediaType": sb.BUNDLE_MEDIA_TYPE, "digest": digest_of(lying), "size": "12"})
        attach(b"z", layers="not a list", annotations=["not", "a", "map"])
        attach(b"w", subject="not a descriptor")
        problems = image_problems(client, repo, repository, target, pub)
        assert problems == [
            "its signature names another image (a signature copied from elsewhere)",
            "no SLSA provenance about this digest signed by the configured key",
        ], problems

        attach(bundle(target, key))  # a real signature: accepted among the rest
        assert image_problems(client, repo, repository, target, pub) == [
            "no SLSA provenance about this digest signed by the configured key"
        ]
