"""The ``sign`` uploader against a real docker-registry 2.8 (no referrers API: cosign's tag
scheme, and Sigstore bundles listed in the referrers tag schema), checked by the real cosign
CLI: ``verify --key`` on the index and on each platform manifest, ``tree``, and
``verify-blob`` on the archives and checksums.

The ``provenance`` provider runs in the same stage; ``sign`` attaches its DSSE envelope and a
CycloneDX statement of the SBOM as attestations (``cosign verify-attestation``). The key
pair is made by ``cosign generate-key-pair``.
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.harness.cosign import CosignKey, cosign, generate_key, tool
from tests.harness.referrers_registry import ReferrersRegistry
from tests.harness.registry import Registry, drop_referrers_index
from tests.plugins.upload.conftest import artifacts, env_ref, set_tables

from gopipe.testing import RunResult
from gopipe_oci import RegistryClient
from gopipe_plugins._common.cosign_sig import sig_tag
from gopipe_plugins._common.cosign_verify import image_problems, load_public_key, signature_problem

pytestmark = pytest.mark.slow  # Go builds, a registry and the cosign CLI

PASSWORD = "sign-test-password-1"
SIGN_V1 = "https://sigstore.dev/cosign/sign/v1"  # the predicate of cosign v3's image signatures
SLSA_V1 = "https://slsa.dev/provenance/v1"


@pytest.fixture
def signed_repo(cd_repo: Path, tmp_path: Path) -> tuple[Path, CosignKey]:
    key = generate_key(tmp_path / "keys", PASSWORD)
    (cd_repo / "keys").mkdir()
    (cd_repo / "keys" / "cosign.key").write_bytes(key.private.read_bytes())
    (cd_repo / ".gitignore").write_text((cd_repo / ".gitignore").read_text() + "keys/\n")
    set_tables(
        cd_repo,
        package={"providers": ["oci-image", "archive"]},
        upload={
            "providers": ["registry", "provenance", "sign"],
            "registry": {"registry": env_ref("REG_HOST"), "insecure": True},
            "provenance": {"key": {"file": "keys/cosign.key"}},
            "sign": {"key": {"file": "keys/cosign.key"}, "insecure": True},
        },
    )
    return cd_repo, key


def _verify_image(key: CosignKey, reference: str) -> list[dict[str, object]]:
    res = cosign(
        "verify", "--key", str(key.public), "--insecure-ignore-tlog=true", "--allow-http-registry",
        "--output", "json", reference,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return list(json.loads(res.stdout))


def test_images_and_files_are_signed_where_cosign_finds_them(
    signed_repo: tuple[Path, CosignKey],
    plain_registry: Registry,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo, key = signed_repo
    monkeypatch.setenv("REG_HOST", plain_registry.host)
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
    result = gopipe_run(repo, "package", "upload")
    assert result.exit_code == 0, result.report
    (ref,) = artifacts(result, "image-ref")
    repository, index = ref["extra"]["repository"], ref["extra"]["digest"]
    (image,) = artifacts(result, "image")
    layout_index = repo / image["path"] / "blobs" / "sha256" / index.removeprefix("sha256:")
    platforms = [m["digest"] for m in json.loads(layout_index.read_text())["manifests"]]
    assert len(platforms) == 2

    signed = {a["extra"]["signed"] for a in artifacts(result, "image-signature")}
    assert signed == {f"{repository}@{d}" for d in (index, *platforms)}  # the index and each platform
    # cosign v3 reads the Sigstore bundles first: without a referrers API they are listed in
    # the referrers tag schema (an index at sha256-<hex>), as cosign v3 itself stores them
    host, _, path = repository.partition("/")
    for reference in sorted(signed):
        claims = _verify_image(key, reference)
        (signature,) = [c for c in claims if c["critical"]["type"] == SIGN_V1]  # type: ignore[index]
        assert signature["critical"]["image"]["docker-manifest-digest"] == reference.rsplit("@", 1)[1]  # type: ignore[index]
    assert sorted(c["critical"]["type"] for c in _verify_image(key, f"{repository}@{index}")) == [  # type: ignore[index]
        SIGN_V1,
        SLSA_V1,
    ]
    # without those indexes, cosign falls back to its tag scheme (cosign v2's storage)
    for digest in (index, *platforms):
        drop_referrers_index(host, path, digest)
    for reference in sorted(signed):
        (claim,) = _verify_image(key, reference)
        critical = claim["critical"]
        assert critical["image"]["docker-manifest-digest"] == reference.rsplit("@", 1)[1]  # type: ignore[index]
        assert critical["identity"]["docker-reference"] == repository  # type: ignore[index]

    for predicate, target in [("slsaprovenance1", index)] + [("cyclonedx", p) for p in platforms]:
        res = cosign(
            "verify-attestation", "--key", str(key.public), "--type", predicate,
            "--insecure-ignore-tlog=true", "--allow-http-registry", f"{repository}@{target}",
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        (line,) = [x for x in res.stdout.splitlines() if x.startswith("{")]
        statement = json.loads(base64.b64decode(json.loads(line)["payload"]))
        assert statement["subject"][0]["digest"] == {"sha256": target.removeprefix("sha256:")}
        if predicate == "cyclonedx":
            assert statement["predicate"]["bomFormat"] == "CycloneDX"
        else:
            assert statement["predicate"]["runDetails"]["builder"]["id"] == "urn:gopipe:local"
    res = cosign(
        "verify-attestation", "--key", str(key.public), "--type", "cyclonedx",
        "--insecure-ignore-tlog=true", "--allow-http-registry", f"{repository}@{index}",
    )  # fmt: skip
    assert res.returncode != 0  # the SBOMs belong to the platform images, not the index

    tree = cosign("tree", "--allow-http-registry", f"{repository}@{index}")
    text = tree.stdout + tree.stderr
    assert (
        tree.returncode == 0
        and "Signatures for an image tag" in text
        and "Attestations for an image tag" in text
    )

    for kind in ("archive", "checksums"):
        for artifact in artifacts(result, kind):
            file = repo / artifact["path"]
            res = cosign(
                "verify-blob", "--key", str(key.public), "--signature", f"{file}.sig",
                "--insecure-ignore-tlog=true", str(file),
            )  # fmt: skip
            assert res.returncode == 0 and "Verified OK" in res.stdout + res.stderr, res.stderr

    # A second run adds no second signature from the same key.
    result = gopipe_run(repo, "package", "upload")
    assert result.exit_code == 0, result.report
    for digest in (index, *platforms):
        drop_referrers_index(host, path, digest)  # listed again: the first run's were dropped
    assert len(_verify_image(key, f"{repository}@{index}")) == 1
    res = cosign(
        "verify-attestation", "--key", str(key.public), "--type", "cyclonedx",
        "--insecure-ignore-tlog=true", "--allow-http-registry", f"{repository}@{platforms[0]}",
    )  # fmt: skip
    assert len([x for x in res.stdout.splitlines() if x.startswith("{")]) == 1  # replaced, not added

    # What deploy's require_signed checks, in-process, against the same registry.
    public = load_public_key(key.public.read_bytes())
    with RegistryClient(host, insecure=True, use_docker_config=False) as client:
        assert image_problems(client, path, repository, index, public) == []
        assert image_problems(client, path, repository, platforms[0], public) == [
            "no SLSA provenance about this digest signed by the configured key"
        ]
        # A signature image copied from another digest (here: a platform's) does not count.
        copied = client.get_manifest(path, sig_tag(platforms[1]))
        client.put_manifest(path, sig_tag(platforms[0]), copied.data, copied.media_type)
        assert signature_problem(client, path, repository, platforms[0], public) == (
            "its signature names another image (a signature copied from elsewhere)"
        )
        # Another key's view: nothing is signed by it.
        stranger = load_public_key(
            generate_key(repo.parent / "stranger", "stranger-password-4").public.read_bytes()
        )
        assert image_problems(client, path, repository, index, stranger) == [
            "no signature by the configured key",
            "no SLSA provenance about this digest signed by the configured key",
        ]

    other = generate_key(repo.parent / "other-keys", "another-password-22")
    res = cosign("verify", "--key", str(other.public), "--insecure-ignore-tlog=true", "--allow-http-registry",
                 f"{repository}@{index}")  # fmt: skip
    assert res.returncode != 0


def test_on_a_registry_with_referrers_oras_discover_lists_signature_provenance_and_sbom(
    signed_repo: tuple[Path, CosignKey],
    referrers_registry: ReferrersRegistry,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """go-containerregistry's registry with the OCI 1.1 referrers API: the same signatures go
    to the tag scheme (cosign verify) and, as referrers, to ``oras discover``; a rerun adds
    no second referrer of a type for the same key."""
    repo, key = signed_repo
    monkeypatch.setenv("REG_HOST", referrers_registry.host)
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
    for _ in range(2):
        result = gopipe_run(repo, "package", "upload")
        assert result.exit_code == 0, result.report
    (ref,) = artifacts(result, "image-ref")
    repository, index = ref["extra"]["repository"], ref["extra"]["digest"]
    (image,) = artifacts(result, "image")
    layout_index = repo / image["path"] / "blobs" / "sha256" / index.removeprefix("sha256:")
    platforms = [m["digest"] for m in json.loads(layout_index.read_text())["manifests"]]

    def discover(digest: str) -> list[str]:
        """Each referrer's type; a Sigstore bundle as ``bundle <predicate type>`` (the test
        registry lists its type from the empty config, so the annotation says what it is)."""
        res = subprocess.run(
            [str(tool("oras")), "discover", "--plain-http", "--format", "json", f"{repository}@{digest}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        found = json.loads(res.stdout)
        kinds = []
        for m in found.get("referrers") or found.get("manifests") or []:
            annotations = m.get("annotations") or {}
            if annotations.get("dev.sigstore.bundle.content") == "dsse-envelope":
                kinds.append(f"bundle {annotations['dev.sigstore.bundle.predicateType']}")
            else:
                kinds.append(str(m["artifactType"]))
        return sorted(kinds)

    assert discover(index) == [
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        "application/vnd.in-toto+json",
        "bundle https://sigstore.dev/cosign/sign/v1",
        "bundle https://slsa.dev/provenance/v1",
    ]
    for platform in platforms:
        assert discover(platform) == [
            "application/vnd.cyclonedx+json",
            "application/vnd.dev.cosign.artifact.sig.v1+json",
            "bundle https://cyclonedx.org/bom",
            "bundle https://sigstore.dev/cosign/sign/v1",
        ]
    # cosign v3 reads the bundles when the referrers API has them (and lists every bundle
    # the key signed, attestations included, as a claim): one signature, one provenance
    claims = _verify_image(key, f"{repository}@{index}")
    assert sorted(c["critical"]["type"] for c in claims) == [SIGN_V1, SLSA_V1], claims  # type: ignore[index]

    # cosign v3's own format: with the tag scheme gone from the registry, the real cosign
    # still verifies every signature and attestation, from the Sigstore bundles it finds
    # through the referrers API.
    host, _, path = repository.partition("/")
    for target in (index, *platforms):
        for suffix in ("sig", "att"):  # the test registry deletes a tag by name
            url = f"{referrers_registry.url}/v2/{path}/manifests/{sig_tag(target, suffix)}"
            try:
                urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10).close()
            except urllib.error.HTTPError as exc:
                assert exc.code == 404, exc  # a platform manifest has no .att of its own
    public = load_public_key(key.public.read_bytes())
    with RegistryClient(host, insecure=True, use_docker_config=False) as client:
        for target in (index, *platforms):
            assert client.head_manifest(path, sig_tag(target)) is None
            assert client.head_manifest(path, sig_tag(target, "att")) is None
        # deploy's require_signed accepts the referrers alone too
        assert image_problems(client, path, repository, index, public) == []
        assert image_problems(client, path, repository, platforms[0], public) == [
            "no SLSA provenance about this digest signed by the configured key"
        ]
        stranger = load_public_key(
            generate_key(repo.parent / "stranger", "stranger-password-4").public.read_bytes()
        )
        assert image_problems(client, path, repository, index, stranger) == [
            "no signature by the configured key",
            "no SLSA provenance about this digest signed by the configured key",
        ]
    for target in (index, *platforms):
        claims = _verify_image(key, f"{repository}@{target}")
        (signature,) = [c for c in claims if c["critical"]["type"] == SIGN_V1]  # type: ignore[index]
        assert signature["critical"]["image"]["docker-manifest-digest"] == target  # type: ignore[index]
    for predicate, target in [("slsaprovenance1", index)] + [("cyclonedx", p) for p in platforms]:
        res = cosign(
            "verify-attestation", "--key", str(key.public), "--type", predicate,
            "--insecure-ignore-tlog=true", "--allow-http-registry", f"{repository}@{target}",
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
    tree = cosign("tree", "--allow-http-registry", f"{repository}@{index}")
    assert "https://slsa.dev/provenance/v1 artifacts via OCI referrer" in tree.stdout + tree.stderr
    other = generate_key(repo.parent / "other-keys", "another-password-22")
    res = cosign("verify", "--key", str(other.public), "--insecure-ignore-tlog=true", "--allow-http-registry",
                 f"{repository}@{index}")  # fmt: skip
    assert res.returncode != 0  # a bundle verifies with its signer's key only
    # a rerun adds no second bundle of a kind for this key
    result = gopipe_run(repo, "package", "upload")
    assert result.exit_code == 0, result.report
    assert discover(index).count(f"bundle {SIGN_V1}") == 1
    written = [f.read_bytes() for f in (repo / "dist").rglob("*") if f.is_file()]
    assert written and not any(PASSWORD.encode() in data for data in written)  # the key's password


def _allow_loopback_snapshot_uploads(repo: Path) -> None:
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.gopipe.publish]\nsnapshot_uploads = "loopback"\n')
    subprocess.run(["git", "-C", str(repo), "commit", "-qam", "loopback snapshots"], check=True)


def test_a_snapshot_release_signs_and_attests_on_a_loopback_registry(
    signed_repo: tuple[Path, CosignKey],
    referrers_registry: ReferrersRegistry,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``gopipe run release --snapshot`` with ``snapshot_uploads = "loopback"``: the release's
    images, archives and checksums are signed and attested on a registry on this machine, and
    the real cosign (``verify``, ``verify-attestation``, ``verify-blob``) and ``oras discover``
    accept every signature, attestation and SBOM referrer; publish still sends nothing."""
    repo, key = signed_repo
    _allow_loopback_snapshot_uploads(repo)
    monkeypatch.setenv("REG_HOST", referrers_registry.host)
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
    result = gopipe_run(repo, "release", "--snapshot")
    assert result.exit_code == 0, result.report
    stages = {s["name"]: s for s in result.report["stages"]}
    assert stages["upload"]["status"] == "success" and stages["publish"]["status"] == "skipped"
    assert result.report["git"]["version"].startswith("1.2.4-SNAPSHOT-")
    (ref,) = artifacts(result, "image-ref")
    repository, index = ref["extra"]["repository"], ref["extra"]["digest"]
    (image,) = artifacts(result, "image")
    layout_index = repo / image["path"] / "blobs" / "sha256" / index.removeprefix("sha256:")
    platforms = [m["digest"] for m in json.loads(layout_index.read_text())["manifests"]]
    for target in (index, *platforms):
        assert _verify_image(key, f"{repository}@{target}")
    for predicate, target in [("slsaprovenance1", index)] + [("cyclonedx", p) for p in platforms]:
        res = cosign(
            "verify-attestation", "--key", str(key.public), "--type", predicate,
            "--insecure-ignore-tlog=true", "--allow-http-registry", f"{repository}@{target}",
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
    for platform in platforms:
        res = subprocess.run(
            [str(tool("oras")), "discover", "--plain-http", "--format", "json", f"{repository}@{platform}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        found = json.loads(res.stdout)
        types = {str(m.get("artifactType")) for m in found.get("referrers") or found.get("manifests") or []}
        assert {"application/vnd.cyclonedx+json", "application/vnd.dev.cosign.artifact.sig.v1+json"} <= types
    files = [a for kind in ("archive", "checksums") for a in artifacts(result, kind)]
    assert files and all(a["snapshot"] is True for a in files)
    for artifact in files:
        file = repo / artifact["path"]
        res = cosign(
            "verify-blob", "--key", str(key.public), "--signature", f"{file}.sig",
            "--insecure-ignore-tlog=true", str(file),
        )  # fmt: skip
        assert res.returncode == 0 and "Verified OK" in res.stdout + res.stderr, res.stderr


def test_a_snapshot_uploads_nothing_by_default_and_never_off_this_machine(
    signed_repo: tuple[Path, CosignKey],
    plain_registry: Registry,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without ``snapshot_uploads`` a snapshot sends nothing (upload is skipped); with
    ``"loopback"``, a registry named by a host that is not this machine is refused before
    any request: the upload stage fails naming the setting, and nothing is recorded as pushed
    or signed."""
    repo, _ = signed_repo
    monkeypatch.setenv("REG_HOST", plain_registry.host)
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
    result = gopipe_run(repo, "release", "--snapshot")
    assert result.exit_code == 0, result.report
    stages = {s["name"]: s for s in result.report["stages"]}
    assert stages["upload"]["status"] == "skipped" and "snapshot" in stages["upload"]["summary"]
    assert not artifacts(result, "image-ref")

    _allow_loopback_snapshot_uploads(repo)
    port = plain_registry.host.rsplit(":", 1)[1]
    monkeypatch.setenv("REG_HOST", f"registry.example.invalid:{port}")
    result = gopipe_run(repo, "release", "--snapshot")
    assert result.exit_code == 1
    upload = next(s for s in result.report["stages"] if s["name"] == "upload")
    text = json.dumps(upload)
    assert "not on this machine" in text and "snapshot_uploads" in text
    assert not artifacts(result, "image-ref") and not artifacts(result, "image-signature")
