"""Pushing to and pulling from a real registry (docker-registry, TLS + htpasswd auth)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from tests.harness import skopeo
from tests.harness.registry import Registry

from gopipe_oci import (
    ArtifactFile,
    AuthError,
    Credentials,
    Descriptor,
    ImageResult,
    Layout,
    NotFoundError,
    RegistryBase,
    RegistryClient,
    RegistryError,
    build_image,
    pull_layout,
    push_artifact,
    push_layout,
)

from .conftest import EPOCH, client_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def image(go_binaries: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> ImageResult:
    out = tmp_path_factory.mktemp("reg") / "dist" / "oci" / "hello"
    return build_image(go_binaries, out, name="hello", epoch=EPOCH, revision="deadbeef", version="1.0.0")


def _blobs(res: ImageResult) -> set[str]:
    out: set[str] = set()
    for img in res.images:
        out |= {img.config_digest, *(la.digest for la in img.layers)}
    return out


def test_push_two_platforms_then_nothing_to_upload(
    registry: Registry, image: ImageResult, tmp_path: Path
) -> None:
    with client_for(registry) as client:
        first = push_layout(image.layout, f"{registry.host}/acme/hello:1.0.0", tags=["latest"], client=client)
        assert first.digest == image.index_digest
        assert first.tags == ("1.0.0", "latest")
        assert first.uploaded == len(_blobs(image)) == 5  # shared base + 2 app layers + 2 configs
        assert first.skipped == 0
        assert first.manifests == 3
        second = push_layout(image.layout, f"{registry.host}/acme/hello", tags=["1.0.0"], client=client)
        assert (second.uploaded, second.skipped, second.uploaded_bytes) == (0, 5, 0)
        assert second.digest == first.digest

        # the registry serves exactly the bytes we built
        raw = json.dumps(skopeo.inspect(skopeo.ref(registry, "acme/hello", "1.0.0"), registry, raw=True))
        assert json.loads(raw)["manifests"][0]["digest"] == image.images[0].manifest_digest
        assert skopeo.digest(skopeo.ref(registry, "acme/hello", "latest"), registry) == (image.index_digest)
        fetched = client.get_manifest("acme/hello", "latest")
        assert fetched.digest == image.index_digest
        assert fetched.media_type == "application/vnd.oci.image.index.v1+json"
        assert fetched.data == Layout(image.layout).read_blob(image.index_digest)

        # a full pull gives back the same blobs
        pulled = pull_layout(f"{registry.host}/acme/hello:1.0.0", tmp_path / "pulled", client=client)
        assert pulled.digest == image.index_digest
        for blob in (image.layout / "blobs" / "sha256").iterdir():
            assert (tmp_path / "pulled" / "blobs" / "sha256" / blob.name).read_bytes() == (blob.read_bytes())
        # and skopeo can copy the pushed image per platform
        for img in image.images:
            arch = img.platform.split("/")[1]
            dest = tmp_path / f"copy-{arch}"
            skopeo.copy(
                skopeo.ref(registry, "acme/hello", "1.0.0"),
                f"dir:{dest}",
                src_registry=registry,
                extra=["--override-arch", arch],
            )
            digest = "sha256:" + hashlib.sha256((dest / "manifest.json").read_bytes()).hexdigest()
            assert digest == img.manifest_digest


def test_wrong_password_is_a_clear_auth_error(
    registry: Registry, image: ImageResult, caplog: pytest.LogCaptureFixture
) -> None:
    assert registry.username is not None
    secret = "not-the-password-" + "x" * 12
    caplog.set_level(logging.DEBUG)
    client = client_for(registry, credentials=Credentials(registry.username, secret))
    with pytest.raises(AuthError) as err:
        push_layout(image.layout, f"{registry.host}/acme/denied:1", client=client)
    message = str(err.value)
    assert "rejected the credentials" in message and "HTTP 401" in message
    assert registry.host in message
    encoded = base64.b64encode(f"{registry.username}:{secret}".encode()).decode()
    for text in (message, caplog.text, repr(err.value.args)):
        assert secret not in text and encoded not in text
    assert secret not in repr(client.auth.credentials)

    anonymous = client_for(registry, credentials=None)
    with pytest.raises(AuthError, match="no credentials were given"):
        anonymous.get_manifest("acme/hello", "latest")


def test_tls_needs_the_ca(registry: Registry) -> None:
    client = RegistryClient(registry.host, use_docker_config=False)
    with pytest.raises(RegistryError, match="TLS verification failed"):
        client.get_manifest("acme/hello", "latest")
    insecure = client_for(registry, ca_file=None, insecure=True)
    with pytest.raises(NotFoundError):
        insecure.get_manifest("acme/nothing-here", "latest")


def test_credentials_from_docker_config(
    registry: Registry, image: ImageResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {registry.host: {"auth": auth}}, "credsStore": "desktop"})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    client = RegistryClient(registry.host, ca_file=registry.ca_cert)
    result = push_layout(image.layout, f"{registry.host}/acme/fromconfig:1", client=client)
    assert result.digest == image.index_digest


def test_redact_is_applied(registry: Registry) -> None:
    client = client_for(
        registry,
        credentials=Credentials("someone", "wrong"),
        redact=lambda s: s.replace(registry.host, "<registry>"),
    )
    with pytest.raises(AuthError) as err:
        client.blob_exists("acme/hello", "sha256:" + "0" * 64)
    assert "<registry>" in str(err.value) and registry.host not in str(err.value)


def test_push_artifact_next_to_image(registry: Registry, image: ImageResult, tmp_path: Path) -> None:
    sbom = tmp_path / "hello.spdx.json"
    sbom.write_text('{"spdxVersion": "SPDX-2.3"}')
    sums = tmp_path / "checksums.txt"
    sums.write_text("abc  hello_linux_amd64.tar.gz\n")
    subject = Descriptor("application/vnd.oci.image.index.v1+json", image.index_digest, image.index_size)
    with client_for(registry) as client:
        push_layout(image.layout, f"{registry.host}/acme/hello:1.0.0", client=client)
        result = push_artifact(
            [ArtifactFile(sbom, "application/spdx+json"), sums],
            f"{registry.host}/acme/hello",
            artifact_type="application/vnd.gopipe.release.v1",
            tags=["1.0.0-release"],
            annotations={"org.opencontainers.image.revision": "deadbeef"},
            subject=subject,
            client=client,
        )
        fetched = client.get_manifest("acme/hello", "1.0.0-release")
        again = push_artifact(
            [ArtifactFile(sbom, "application/spdx+json"), sums],
            f"{registry.host}/acme/hello",
            artifact_type="application/vnd.gopipe.release.v1",
            tags=["1.0.0-release"],
            annotations={"org.opencontainers.image.revision": "deadbeef"},
            subject=subject,
            client=client,
        )
        manifest: dict[str, Any] = json.loads(fetched.data)
        titles = {la["annotations"]["org.opencontainers.image.title"]: la for la in manifest["layers"]}
        assert client.get_blob("acme/hello", titles["hello.spdx.json"]["digest"]) == (sbom.read_bytes())
    assert fetched.digest == result.digest == again.digest
    assert again.uploaded == 0
    assert manifest["artifactType"] == "application/vnd.gopipe.release.v1"
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    assert manifest["config"]["digest"] == "sha256:" + hashlib.sha256(b"{}").hexdigest()
    assert manifest["subject"]["digest"] == image.index_digest
    assert sorted(titles) == ["checksums.txt", "hello.spdx.json"]
    assert titles["hello.spdx.json"]["mediaType"] == "application/spdx+json"
    raw = skopeo.run(
        [
            "inspect",
            "--raw",
            *skopeo.registry_args(registry),
            skopeo.ref(registry, "acme/hello", "1.0.0-release"),
        ]
    )
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == result.digest


def test_registry_base_image(
    registry: Registry, image: ImageResult, go_binaries: dict[str, Path], tmp_path: Path
) -> None:
    with client_for(registry) as client:
        push_layout(image.layout, f"{registry.host}/acme/base:1", client=client)
        derived = build_image(
            go_binaries,
            tmp_path / "derived",
            name="tool",
            epoch=EPOCH + 5,
            base=RegistryBase(f"{registry.host}/acme/base:1", client=client),
        )
        again = build_image(
            go_binaries,
            tmp_path / "again",
            name="tool",
            epoch=EPOCH + 5,
            base=RegistryBase(f"{registry.host}/acme/base@{image.index_digest}", client=client),
        )
        pushed = push_layout(derived.layout, f"{registry.host}/acme/base:derived", client=client)
    assert again.images[0].layers == derived.images[0].layers
    assert pushed.uploaded == 4  # 2 new app layers + 2 configs; base layers are already there
    for base_img, img in zip(image.images, derived.images, strict=True):
        assert img.layers[: len(base_img.layers)] == base_img.layers
        assert len(img.layers) == len(base_img.layers) + 1
        manifest = json.loads(Layout(derived.layout).read_blob(img.manifest_digest))
        assert manifest["annotations"]["org.opencontainers.image.base.digest"] == (base_img.manifest_digest)
        config = json.loads(Layout(derived.layout).read_blob(img.config_digest))
        assert config["config"]["Entrypoint"] == ["/usr/local/bin/tool"]
        assert any(e.startswith("SSL_CERT_FILE=") for e in config["config"]["Env"])
        assert len(config["history"]) == 3


def test_plain_http_registry(plain_registry: Registry, image: ImageResult) -> None:
    # insecure=True tries TLS first and falls back to HTTP for a plain loopback registry
    client = client_for(plain_registry, plain_http=False, insecure=True)
    result = push_layout(image.layout, f"{plain_registry.host}/acme/hello:plain", client=client)
    assert result.digest == image.index_digest
    assert client.origin() == f"http://{plain_registry.host}"
    assert skopeo.digest(skopeo.ref(plain_registry, "acme/hello", "plain"), plain_registry) == (
        image.index_digest
    )


def test_registry_base_by_reference_is_mounted_on_push(
    registry: Registry,
    plain_registry: Registry,
    image: ImageResult,
    go_binaries: dict[str, Path],
    tmp_path: Path,
) -> None:
    with client_for(registry) as client:
        push_layout(image.layout, f"{registry.host}/acme/refbase:1", client=client)
        base_layers = {la.digest for img in image.images for la in img.layers}
        kwargs: dict[str, Any] = {"name": "tool", "epoch": EPOCH + 7}
        copied = build_image(
            go_binaries,
            tmp_path / "copied",
            base=RegistryBase(f"{registry.host}/acme/refbase:1", client=client),
            **kwargs,
        )
        referenced = build_image(
            go_binaries,
            tmp_path / "referenced",
            base=RegistryBase(f"{registry.host}/acme/refbase:1", client=client, copy_layers=False),
            **kwargs,
        )
        # the same image, byte for byte; only the layout differs (no base layers in it)
        assert referenced.index_digest == copied.index_digest
        assert copied.blob_sources == {}
        assert referenced.blob_sources == dict.fromkeys(base_layers, f"{registry.host}/acme/refbase")
        for digest in base_layers:
            assert Layout(copied.layout).blob_path(digest).is_file()
            assert not Layout(referenced.layout).blob_path(digest).exists()

        pushed = push_layout(
            referenced.layout,
            f"{registry.host}/acme/refapp:1",
            client=client,
            blob_sources=referenced.blob_sources,
        )
        assert (pushed.mounted, pushed.uploaded, pushed.skipped) == (len(base_layers), 4, 0)
        assert pushed.digest == copied.index_digest
        pulled = pull_layout(f"{registry.host}/acme/refapp:1", tmp_path / "pulled", client=client)
        assert pulled.digest == copied.index_digest  # every blob there, each checked on the way

        # a source repository that does not hold the blob: the mount is refused (202), the
        # copy through the client finds nothing, and the push says which blob and where
        missing = dict.fromkeys(base_layers, f"{registry.host}/acme/empty")
        with pytest.raises(NotFoundError):
            push_layout(
                referenced.layout, f"{registry.host}/acme/refapp2:1", client=client, blob_sources=missing
            )

    # another registry cannot mount from this one: a clear error, nothing half-pushed as tagged
    plain = client_for(plain_registry)
    with pytest.raises(RegistryError, match="another registry"):
        push_layout(
            referenced.layout,
            f"{plain_registry.host}/acme/refapp:1",
            client=plain,
            blob_sources=referenced.blob_sources,
        )
    assert plain.head_manifest("acme/refapp", "1") is None
