"""Small pure functions of the package providers: references, purls, sums, build info."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.plugins.package.conftest import TEXT_MODULE, commit_all, go_binary

from gopipe.testing import RunResult
from gopipe_plugins.package import sbom
from gopipe_plugins.package.dockerfile_build import has_registry, repository, sanitize_reference


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("hello:1.2.3", "hello:1.2.3"),
        ("Hello:0.0.0-abc1234-dirty", "hello:0.0.0-abc1234-dirty"),
        ("127.0.0.1:5000/Team/App:v1+build.7", "127.0.0.1:5000/team/app:v1-build.7"),
        ("127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app"),
        ("app:-leading", "app:leading"),
    ],
)
def test_sanitize_reference(raw: str, clean: str) -> None:
    assert sanitize_reference(raw) == clean


def test_registry_detection_and_repository() -> None:
    assert has_registry("127.0.0.1:5000/app:1") and has_registry("localhost/app")
    assert has_registry("registry.example.com/team/app:1")
    assert not has_registry("app:1") and not has_registry("team/app:1")
    assert repository("127.0.0.1:5000/team/app:1") == "127.0.0.1:5000/team/app"
    assert repository("127.0.0.1:5000/team/app") == "127.0.0.1:5000/team/app"


def test_purl_encoding_and_h1_conversion() -> None:
    from packageurl import PackageURL

    ref = sbom.purl("github.com/Foo/bar/v2", "v2.0.0+incompatible", goos="linux")
    assert ref == "pkg:golang/github.com/Foo/bar/v2@v2.0.0%2Bincompatible?goos=linux&type=module"
    parsed = PackageURL.from_string(ref)
    assert (parsed.namespace, parsed.name, parsed.version) == (
        "github.com/Foo/bar",
        "v2",
        "v2.0.0+incompatible",
    )
    digest = hashlib.sha256(b"tree").digest()
    assert sbom.h1_to_sha256("h1:" + base64.b64encode(digest).decode()) == digest.hex()
    assert sbom.h1_to_sha256("h1:not-base64!") is None
    assert sbom.h1_to_sha256("h2:" + base64.b64encode(digest).decode()) is None


@pytest.mark.slow
def test_replaced_module_is_reported_with_the_replacement(
    dep_repo: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    """A real ``replace`` directive: both build-info forms agree and the SBOM names the code
    that was linked (the replacement's version and sum) and records the replacement."""
    go = go_binary()
    subprocess.run(
        [go, "mod", "edit", f"-replace={TEXT_MODULE}={TEXT_MODULE}@v0.22.0"], cwd=dep_repo, check=True
    )
    subprocess.run(
        [go, "mod", "tidy"],
        cwd=dep_repo,
        check=True,
        capture_output=True,
        env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"},
    )
    commit_all(dep_repo, "replace x/text")
    result = gopipe_run(dep_repo, "package")
    assert result.exit_code == 0, json.dumps(result.report.get("stages"), indent=1)
    binary = dep_repo / "dist" / "greeter_linux_amd64" / "greeter"
    as_json = subprocess.run(
        [go, "version", "-m", "-json", str(binary)], capture_output=True, text=True, check=True
    ).stdout
    as_text = subprocess.run(
        [go, "version", "-m", str(binary)], capture_output=True, text=True, check=True
    ).stdout
    info = sbom.parse_json(as_json)
    assert info == sbom.parse_text(as_text)
    [dep] = info.deps
    assert dep.replace is not None and dep.replace.version == "v0.22.0"

    version = result.report["git"]["version"]
    bom = json.loads((dep_repo / "dist" / f"greeter_{version}_linux_amd64.cdx.json").read_text())
    text_mod = next(c for c in bom["components"] if c["name"] == TEXT_MODULE)
    assert text_mod["version"] == "v0.22.0"
    props = {p["name"]: p["value"] for p in text_mod["properties"]}
    assert props["gopipe:go:replaced"] == f"{TEXT_MODULE} v0.23.0 => {TEXT_MODULE} v0.22.0"
    assert props["gopipe:go:sum"] == dep.replace.sum
