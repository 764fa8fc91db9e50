"""One ``oci-image`` holding several built binaries (``binaries = [...]``), as GoReleaser's
``dockers`` with several ``ids`` or ko with several ``ko://`` references let a user expect.

Real components: two Go main packages built by ``go build``, the daemonless builder, the
``registry`` uploader pushing to Debian's docker-registry with TLS and htpasswd (``registry``
fixture), the OCI library pulling the image back; the pulled binaries are run.
"""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.harness.registry import Registry
from tests.plugins.package.conftest import commit_all

from gopipe.testing import RunResult, make_git_repo
from gopipe_oci import Credentials, Layout, RegistryClient, pull_layout

pytestmark = pytest.mark.slow  # builds two Go binaries, pushes to a real registry

MAIN = (
    'package main\n\nimport "fmt"\n\nvar version = "dev"\n\n'
    'func main() {{ fmt.Println("{name}", version) }}\n'
)
CONFIG = """[tool.gopipe]
main = ["./cmd/alpha", "./cmd/beta", "./cmd/gamma"]
targets = ["linux/amd64", "linux/arm64"]

[tool.gopipe.package]
providers = ["oci-image"]

[tool.gopipe.package.oci-image]
base = "scratch"
{image}

[tool.gopipe.upload]
providers = ["registry"]

[tool.gopipe.upload.registry]
registry = {{ env = "MULTI_REG" }}
username = {{ env = "MULTI_REG_USER" }}
password = {{ env = "MULTI_REG_PASSWORD" }}
ca_file = {{ env = "MULTI_REG_CA" }}
"""
MULTI = 'binaries = ["beta", "alpha"]\nentrypoint = ["/usr/local/bin/beta"]\ncmd = ["serve"]'


@pytest.fixture
def trio(tmp_path: Path) -> Path:
    repo = tmp_path / "trio"
    for name in ("alpha", "beta", "gamma"):
        (repo / "cmd" / name).mkdir(parents=True)
        (repo / "cmd" / name / "main.go").write_text(MAIN.format(name=name))
    (repo / "go.mod").write_text("module example.com/trio\n\ngo 1.24\n")
    (repo / "pyproject.toml").write_text(CONFIG.format(image=MULTI))
    make_git_repo(repo)
    return repo


def image_of(layout: Path, arch: str) -> tuple[dict[str, Any], dict[str, Any]]:
    lay = Layout(layout)
    index = lay.read_json(lay.resolve("latest").digest)
    [entry] = [m for m in index["manifests"] if m["platform"]["architecture"] == arch]
    manifest = lay.read_json(entry["digest"])
    return manifest, lay.read_json(manifest["config"]["digest"])


def test_one_image_holds_the_listed_binaries_is_reproducible_and_pushes(
    trio: Path,
    registry: Registry,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    assert registry.username is not None and registry.password is not None and registry.ca_cert
    monkeypatch.setenv("MULTI_REG", registry.host)
    monkeypatch.setenv("MULTI_REG_USER", registry.username)
    monkeypatch.setenv("MULTI_REG_PASSWORD", registry.password)
    monkeypatch.setenv("MULTI_REG_CA", str(registry.ca_cert))

    first = gopipe_run(trio, "package", "upload")
    assert first.exit_code == 0, first.report.get("error") or first.report["stages"]
    [image] = [a for a in first.report["artifacts"] if a["kind"] == "image"]
    assert image["name"] == "beta"  # the first listed names the image; gamma is in no image
    assert image["extra"]["binaries"] == {"beta": "/usr/local/bin/beta", "alpha": "/usr/local/bin/alpha"}
    digest = image["extra"]["index_digest"]
    layout = trio / "dist" / "oci" / "beta"
    manifest, config = image_of(layout, "amd64")
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/beta"]
    assert config["config"]["Cmd"] == ["serve"]
    assert config["history"][-1]["created_by"] == "gopipe: add /usr/local/bin/beta, /usr/local/bin/alpha"
    [layer] = manifest["layers"]
    with tarfile.open(Layout(layout).blob_path(layer["digest"])) as tar:
        assert set(tar.getnames()) >= {"usr/local/bin/alpha", "usr/local/bin/beta"}
        assert not any("gamma" in n for n in tar.getnames())

    [ref] = [a for a in first.report["artifacts"] if a["kind"] == "image-ref"]
    assert ref["extra"]["reference"] == f"{registry.host}/trio/beta@{digest}"

    # the same commit again, built from scratch: the same digest, nothing new pushed
    second = gopipe_run(trio, "package", "upload", "--no-cache")
    assert second.exit_code == 0, second.report["stages"]
    [again] = [a for a in second.report["artifacts"] if a["kind"] == "image-ref"]
    assert again["extra"]["digest"] == digest and again["extra"]["uploaded"] == 0

    # pulled back from the registry, both binaries run and say who they are
    creds = Credentials(registry.username, registry.password)
    with RegistryClient(registry.host, credentials=creds, ca_file=registry.ca_cert) as client:
        pulled = pull_layout(ref["extra"]["reference"], tmp_path / "pulled", client=client)
    assert pulled.digest == digest
    manifest, _ = image_of(tmp_path / "pulled", "amd64")
    out = tmp_path / "rootfs"
    with tarfile.open(Layout(tmp_path / "pulled").blob_path(manifest["layers"][0]["digest"])) as tar:
        tar.extractall(out, filter="tar")
    version = first.report["git"]["version"]
    for name in ("alpha", "beta"):
        ran = subprocess.run([str(out / "usr/local/bin" / name)], capture_output=True, text=True, check=True)
        assert ran.stdout == f"{name} {version}\n"
    assert registry.password not in (trio / "dist" / "gopipe" / "report.json").read_text()


def test_default_is_one_image_per_binary(trio: Path, gopipe_run: Callable[..., RunResult]) -> None:
    (trio / "pyproject.toml").write_text(CONFIG.format(image=""))
    commit_all(trio)
    result = gopipe_run(trio, "package")
    assert result.exit_code == 0, result.report["stages"]
    images = {a["name"]: a["extra"] for a in result.report["artifacts"] if a["kind"] == "image"}
    assert set(images) == {"alpha", "beta", "gamma"}
    assert images["gamma"]["binaries"] == {"gamma": "/usr/local/bin/gamma"}
    _, config = image_of(trio / "dist" / "oci" / "gamma", "arm64")
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/gamma"]
    assert config["history"][-1]["created_by"] == "gopipe: add /usr/local/bin/gamma"


def test_an_unknown_binary_name_is_a_config_error(trio: Path, gopipe_run: Callable[..., RunResult]) -> None:
    image = 'binaries = ["alpha", "deltaa"]\nentrypoint = ["/usr/local/bin/alpha"]'
    (trio / "pyproject.toml").write_text(CONFIG.format(image=image))
    commit_all(trio)
    result = gopipe_run(trio, "package")
    assert result.exit_code == 2
    package = next(s for s in result.report["stages"] if s["name"] == "package")
    text = str(package)
    assert "pyproject.toml: tool.gopipe.package.oci-image.binaries: no linux binary named deltaa" in text
    assert "alpha, beta, gamma" in text
    assert not (trio / "dist" / "oci").exists()
    built = [a for a in result.report["artifacts"] if a["kind"] == "binary"]
    assert len(built) == 6 and all((trio / a["path"]).is_file() for a in built)  # only packaging refused
