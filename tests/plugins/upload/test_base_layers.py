"""``base_layers``: a registry base's layers are mounted into the target repository instead of
downloaded into the layout and pushed back, and the image is the same either way."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.plugins.upload.conftest import (
    RunFn,
    UsersRegistry,
    artifacts,
    registry_env,
    registry_table,
    set_tables,
    unique_repo,
)

from gopipe_oci import Credentials, Layout, RegistryClient, build_image, pull_layout, push_layout

pytestmark = pytest.mark.slow


def test_base_layers_by_reference_are_mounted_and_the_digest_does_not_change(
    cd_repo: Path,
    users_registry: UsersRegistry,
    gopipe_run: RunFn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reg = users_registry.registry
    assert reg.username and reg.password
    tool = tmp_path / "tool"
    tool.write_bytes(b"#!/bin/true\n" * 50)
    base = build_image(
        {"linux/amd64": tool, "linux/arm64": tool}, tmp_path / "base", name="tool", epoch=1_700_000_000
    )
    base_repo = unique_repo("bases").replace("/{name}", "/tool")
    base_ref = f"{reg.host}/{base_repo}:1"
    creds = Credentials(reg.username, reg.password)
    with RegistryClient(reg.host, credentials=creds, ca_file=reg.ca_cert) as client:
        push_layout(base.layout, base_ref, client=client)
    base_layers = {la.digest for img in base.images for la in img.layers}
    assert len(base_layers) == 2  # the static base (shared) and the tool layer (same bytes)

    for key, value in registry_env(reg).items():
        monkeypatch.setenv(key, value)
    access = {k: v for k, v in registry_table().items() if k != "registry"}
    target = unique_repo("mounted")
    upload = {
        "providers": ["registry"],
        "registry": {**registry_table(), "repository": target, "tags": ["t"]},
    }

    oci = {"base": base_ref, **access, "base_layers": "auto"}
    set_tables(cd_repo, {"providers": ["oci-image"], "oci-image": oci}, upload)

    # a package-only run (no upload stage in it): auto copies, the layout is complete
    copied = gopipe_run(cd_repo, "package")
    assert copied.exit_code == 0
    [full] = artifacts(copied, "image")
    assert "blob_sources" not in full["extra"]
    full_blobs = {p.name for p in (cd_repo / full["extra"]["layout"] / "blobs" / "sha256").iterdir()}
    assert {d.split(":")[1] for d in base_layers} <= full_blobs

    # the same commit with this run's upload going to the base's registry: by reference, mounted
    result = gopipe_run(cd_repo, "package", "upload")
    assert result.exit_code == 0
    [image] = artifacts(result, "image")
    assert image["extra"]["index_digest"] == full["extra"]["index_digest"]  # the same image
    sources = image["extra"]["blob_sources"]
    assert set(sources) == base_layers and set(sources.values()) == {f"{reg.host}/{base_repo}"}
    layout = cd_repo / image["extra"]["layout"]
    held = {p.name for p in (layout / "blobs" / "sha256").iterdir()}
    assert not held & {d.split(":")[1] for d in base_layers}  # nothing of the base downloaded
    [ref] = artifacts(result, "image-ref")
    assert ref["extra"]["mounted"] == 2
    assert ref["extra"]["uploaded"] == 4  # 2 app layers + 2 configs, nothing of the base
    log = (cd_repo / "dist" / "gopipe" / "logs" / "upload.log").read_text()
    assert "2 mounted from the base's repository" in log

    # the registry holds the complete image: a pull verifies every blob against its digest
    with RegistryClient(reg.host, credentials=creds, ca_file=reg.ca_cert) as client:
        pulled = pull_layout(ref["extra"]["reference"], tmp_path / "pulled", client=client)
    assert pulled.digest == full["extra"]["index_digest"]
    assert Layout(tmp_path / "pulled").resolve().digest == pulled.digest
