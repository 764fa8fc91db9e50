"""``oci-image`` bases beyond the built-in static one: ``scratch`` and a local OCI layout
(``oci:PATH[:REF]``), built from a real Go binary and read back from the layouts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.plugins.package.conftest import commit_all

from gopipe.testing import RunResult
from gopipe_oci import Layout

pytestmark = pytest.mark.slow


def manifest_of(layout: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    lay = Layout(layout)
    index = lay.read_json(lay.resolve("latest").digest)
    manifest = lay.read_json(index["manifests"][0]["digest"])
    return manifest, lay.read_json(manifest["config"]["digest"])


def config(base: str) -> str:
    return (
        '[tool.gopipe]\ntargets = ["linux/amd64"]\n[tool.gopipe.package]\nproviders = ["oci-image"]\n'
        f'[tool.gopipe.package.oci-image]\nbase = "{base}"\n'
    )


def test_scratch_and_a_local_layout_as_bases(go_repo: Path, gopipe_run: Callable[..., RunResult]) -> None:
    (go_repo / "pyproject.toml").write_text(config("static"))
    commit_all(go_repo)
    static = gopipe_run(go_repo, "package")
    assert static.exit_code == 0, static.report["stages"]
    static_manifest, _ = manifest_of(go_repo / "dist" / "oci" / "fixture")
    assert len(static_manifest["layers"]) == 2  # the static base and the binary

    # that image, as a layout in the repository, is the base of the next one
    shutil.copytree(go_repo / "dist" / "oci" / "fixture", go_repo / "bases" / "static")
    (go_repo / "pyproject.toml").write_text(config("oci:bases/static:latest"))
    commit_all(go_repo)
    layered = gopipe_run(go_repo, "package")
    assert layered.exit_code == 0, layered.report["stages"]
    manifest, image_config = manifest_of(go_repo / "dist" / "oci" / "fixture")
    assert [la["digest"] for la in manifest["layers"][:2]] == [
        la["digest"] for la in static_manifest["layers"]
    ]
    assert len(manifest["layers"]) == 3
    assert len(image_config["rootfs"]["diff_ids"]) == 3

    (go_repo / "pyproject.toml").write_text(config("scratch"))
    commit_all(go_repo)
    scratch = gopipe_run(go_repo, "package")
    assert scratch.exit_code == 0, scratch.report["stages"]
    manifest, image_config = manifest_of(go_repo / "dist" / "oci" / "fixture")
    assert len(manifest["layers"]) == 1 and len(image_config["rootfs"]["diff_ids"]) == 1
    [image] = [a for a in scratch.report["artifacts"] if a["kind"] == "image"]
    assert image["extra"]["base"] == "scratch"


@pytest.mark.parametrize(
    ("base", "says"),
    [
        ("oci:../outside", "tool.gopipe.package.oci-image.base"),
        ("oci:missing-layout", "not an OCI layout"),
        ("oci:go.mod", "not an OCI layout"),
        ('static"\nfiles = { "etc/x" = "go.mod" }\n#', "tool.gopipe.package.oci-image.files"),
        ('static"\nfiles = { "/etc/../x" = "go.mod" }\n#', "tool.gopipe.package.oci-image.files"),
        ('static"\nfiles = { "/etc/x" = "../outside" }\n#', "files./etc/x"),
    ],
)
def test_a_bad_layout_base_fails_with_the_reason(
    go_repo: Path, gopipe_run: Callable[..., RunResult], base: str, says: str
) -> None:
    (go_repo / "pyproject.toml").write_text(config(base))
    commit_all(go_repo)
    result = gopipe_run(go_repo, "package")
    assert result.exit_code in (1, 2)
    assert says in json.dumps(result.report)


def test_kodata_and_extra_files_go_into_the_app_layer(
    go_repo: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    import tarfile

    (go_repo / "cmd" / "fixture" / "kodata").mkdir()
    (go_repo / "cmd" / "fixture" / "kodata" / "index.html").write_text("<h1>hi</h1>\n")
    (go_repo / "config").mkdir()
    (go_repo / "config" / "app.yaml").write_text("port: 8080\n")
    (go_repo / "pyproject.toml").write_text(
        config("scratch") + 'kodata = true\nfiles = { "/etc/app/app.yaml" = "config/app.yaml" }\n'
    )
    commit_all(go_repo)
    result = gopipe_run(go_repo, "package")
    assert result.exit_code == 0, result.report["stages"]
    layout = go_repo / "dist" / "oci" / "fixture"
    manifest, image_config = manifest_of(layout)
    assert "KO_DATA_PATH=/var/run/ko" in image_config["config"]["Env"]
    [layer] = manifest["layers"]
    with tarfile.open(Layout(layout).blob_path(layer["digest"])) as tar:
        names = set(tar.getnames())
        app = tar.extractfile("etc/app/app.yaml")
        assert app is not None and app.read() == b"port: 8080\n"
    assert {"var/run/ko/index.html", "usr/local/bin/fixture"} <= names
