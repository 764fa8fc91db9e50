"""``gopipe run package upload`` on examples/hello, end to end, with the example's own tables.

(The example's ``cd`` also deploys; tests/plugins/deploy/test_e2e.py covers that half with a cluster.)

Real components: go build, the daemonless ``oci-image`` packager, the ``archive`` packager,
Debian's docker-registry with TLS + htpasswd (``registry`` fixture), skopeo to read the push
back, the OCI library to pull it, and a private dockerd that runs the pushed image.
The environment is exactly what ``demo_env`` gives the demo.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scripts.demo_env import demo_env
from tests.harness import skopeo
from tests.harness.dockerd import Dockerd
from tests.harness.registry import Registry
from tests.plugins.upload.conftest import RunFn, artifacts, assert_not_leaked

from gopipe_oci import Credentials, RegistryClient, pull_layout

pytestmark = pytest.mark.slow


def test_cd_pushes_multiarch_image_reproducibly_and_it_runs(
    cd_repo: Path,
    registry: Registry,
    gopipe_run: RunFn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    dockerd: Dockerd,
) -> None:
    assert registry.password is not None and registry.username is not None
    for key, value in demo_env(registry).items():
        monkeypatch.setenv(key, value)

    first = gopipe_run(cd_repo, "package", "upload")
    out1 = capsys.readouterr().out
    assert first.exit_code == 0, out1
    [image] = artifacts(first, "image")
    assert image["extra"]["builder"] == "oci-image"
    assert set(image["extra"]["platforms"]) == {"linux/amd64", "linux/arm64"}
    assert image["path"] == image["extra"]["layout"] == "dist/oci/hello"
    digest = image["extra"]["index_digest"]

    [ref] = artifacts(first, "image-ref")
    extra = ref["extra"]
    assert extra["reference"] == f"{registry.host}/hello/hello@{digest}"
    assert extra["digest"] == digest
    sha = first.report["git"]["short_sha"]
    assert extra["tags"] == ["1.2.3", sha, "latest"]
    assert extra["uploaded"] + extra["skipped"] == 5  # static base, 2 app layers, 2 configs

    # the registry serves the index we built, under every tag, for both platforms
    raw = skopeo.inspect(skopeo.ref(registry, "hello/hello", "1.2.3"), registry, raw=True)
    assert raw["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert {(m["platform"]["os"], m["platform"]["architecture"]) for m in raw["manifests"]} == {
        ("linux", "amd64"),
        ("linux", "arm64"),
    }
    assert raw["annotations"]["org.opencontainers.image.version"] == "1.2.3"
    assert raw["annotations"]["org.opencontainers.image.revision"] == first.report["git"]["sha"]
    assert raw["annotations"]["org.opencontainers.image.created"] == "2026-01-03T03:04:05Z"
    for tag in extra["tags"]:
        assert skopeo.digest(skopeo.ref(registry, "hello/hello", tag), registry) == digest

    # pulling it back with the library gives the same digest
    creds = Credentials(registry.username, registry.password)
    with RegistryClient(registry.host, credentials=creds, ca_file=registry.ca_cert) as client:
        pulled = pull_layout(extra["reference"], tmp_path / "pulled", client=client)
    assert pulled.digest == digest

    # archives, SBOMs and checksums went next to the image, linked to it
    pushed_files = {a["name"]: a["extra"] for a in artifacts(first, "oci-artifact")}
    assert set(pushed_files) == {"hello-archive", "hello-sbom", "hello-checksums"}
    assert all(x["subject"] == digest for x in pushed_files.values())
    sbom = skopeo.inspect(skopeo.ref(registry, "hello/hello", "1.2.3-sbom"), registry, raw=True)
    assert sbom["artifactType"] == "application/vnd.gopipe.sbom.v1"
    assert sbom["subject"]["digest"] == digest
    assert {la["mediaType"] for la in sbom["layers"]} == {"application/vnd.cyclonedx+json"}

    assert_not_leaked(cd_repo, out1, registry.password)

    # same commit again: same digest, nothing uploaded
    second = gopipe_run(cd_repo, "package", "upload")
    out2 = capsys.readouterr().out
    assert second.exit_code == 0, out2
    [again] = artifacts(second, "image-ref")
    assert again["extra"]["digest"] == digest
    assert again["extra"]["uploaded"] == 0
    assert again["extra"]["skipped"] == 5
    assert all(a["extra"]["uploaded"] == 0 for a in artifacts(second, "oci-artifact"))
    assert_not_leaked(cd_repo, out2, registry.password)

    # a real Docker daemon pulls the pushed image by digest and runs it
    dockerd.trust(registry)
    dockerd.run("login", "-u", registry.username, "--password-stdin", registry.host, input=registry.password)
    dockerd.run("pull", extra["reference"], timeout=600)
    ran = dockerd.run("run", "--rm", "--network", "none", extra["reference"], "--version")
    assert ran.stdout.startswith("hello 1.2.3 (commit "), ran.stdout
