"""Multi-platform image builds: reproducible layouts that skopeo and umoci accept."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from gopipe_oci import ImageConfig, Layout, StaticBase, build_image
from gopipe_oci.base import CA_BUNDLE, CA_PATH

from .conftest import EPOCH

SKOPEO = shutil.which("skopeo")
UMOCI = shutil.which("umoci")


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _json(layout: Path, digest: str) -> Any:
    return json.loads(Layout(layout).read_blob(digest))


def _build(bins: dict[str, Path], out: Path, **kw: Any) -> Any:
    opts: dict[str, Any] = {
        "name": "hello",
        "epoch": EPOCH,
        "source": "https://example.com/acme/hello",
        "revision": "0123456789abcdef0123456789abcdef01234567",
        "version": "1.2.3",
    }
    opts.update(kw)
    return build_image(bins, out, **opts)


def _two(bins: dict[str, Path]) -> dict[str, Path]:
    return {k: v for k, v in bins.items() if k in ("linux/amd64", "linux/arm64")}


def test_build_twice_gives_identical_layout(fake_binaries: dict[str, Path], tmp_path: Path) -> None:
    a = _build(fake_binaries, tmp_path / "a")
    b = _build(fake_binaries, tmp_path / "b")
    assert a.index_digest == b.index_digest
    assert a.images == b.images
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")


def test_different_epoch_changes_digest_but_not_base(fake_binaries: dict[str, Path], tmp_path: Path) -> None:
    a = _build(fake_binaries, tmp_path / "a")
    b = _build(fake_binaries, tmp_path / "b", epoch=EPOCH + 60)
    assert a.index_digest != b.index_digest
    for ia, ib in zip(a.images, b.images, strict=True):
        assert ia.layers[0] == ib.layers[0]  # static base layer is shared across commits
        assert ia.layers[1].digest != ib.layers[1].digest


def test_layout_structure(fake_binaries: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "oci" / "hello"
    res = _build(fake_binaries, out, ref_names=("latest", "1.2.3"))
    assert json.loads((out / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    top = json.loads((out / "index.json").read_bytes())
    assert [m["annotations"]["org.opencontainers.image.ref.name"] for m in top["manifests"]] == [
        "latest",
        "1.2.3",
    ]
    assert {m["digest"] for m in top["manifests"]} == {res.index_digest}
    # every blob is named by its digest, and nothing else is there
    blobs = sorted((out / "blobs" / "sha256").iterdir())
    for blob in blobs:
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    referenced = {res.index_digest}
    for img in res.images:
        referenced |= {img.manifest_digest, img.config_digest, *(la.digest for la in img.layers)}
    assert {f"sha256:{b.name}" for b in blobs} == referenced
    assert res.size == sum(b.stat().st_size for b in blobs)
    assert not list(out.parent.glob(".hello*")), "staging directories must not be left behind"


def test_index_manifest_and_config(fake_binaries: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "img"
    cfg = ImageConfig(
        cmd=("serve",),
        exposed_ports=("8080", "9090/udp"),
        env={"GODEBUG": "madvdontneed=1"},
        labels={"team": "ci"},
        workdir="/srv",
    )
    res = _build(fake_binaries, out, config=cfg)
    index = _json(out, res.index_digest)
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [m["platform"] for m in index["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm", "os": "linux", "variant": "v7"},
        {"architecture": "arm64", "os": "linux"},
    ]
    expected_ann = {
        "org.opencontainers.image.created": "2023-11-14T22:13:20Z",
        "org.opencontainers.image.source": "https://example.com/acme/hello",
        "org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
        "org.opencontainers.image.version": "1.2.3",
    }
    assert index["annotations"] == expected_ann
    for img in res.images:
        manifest = _json(out, img.manifest_digest)
        assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        assert manifest["annotations"] == expected_ann
        assert [la["digest"] for la in manifest["layers"]] == [la.digest for la in img.layers]
        config = _json(out, img.config_digest)
        plat = img.platform.split("/")
        assert (config["os"], config["architecture"]) == (plat[0], plat[1])
        assert config.get("variant", "") == (plat[2] if len(plat) == 3 else "")
        assert config["created"] == "2023-11-14T22:13:20Z"
        assert config["rootfs"]["diff_ids"] == [la.diff_id for la in img.layers]
        assert len(config["history"]) == len(img.layers)
        assert config["history"][-1] == {
            "created": "2023-11-14T22:13:20Z",
            "created_by": "gopipe: add /usr/local/bin/hello",
        }
        assert "certifi" in config["history"][0]["created_by"]
        rt = config["config"]
        assert rt["Entrypoint"] == ["/usr/local/bin/hello"]
        assert rt["Cmd"] == ["serve"]
        assert rt["User"] == "65532:65532"
        assert rt["WorkingDir"] == "/srv"
        assert rt["ExposedPorts"] == {"8080/tcp": {}, "9090/udp": {}}
        assert rt["Labels"] == {"team": "ci"}
        assert rt["Env"] == [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            f"SSL_CERT_FILE={CA_PATH}",
            "GODEBUG=madvdontneed=1",
        ]


def _layer_members(layout: Path, digest: str) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(Layout(layout).blob_path(digest), "r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def test_static_base_contents(fake_binaries: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "img"
    res = _build(_two(fake_binaries), out)
    base_digest = res.images[0].layers[0].digest
    members = _layer_members(out, base_digest)
    assert members["tmp"].mode == 0o1777
    home = members["home/nonroot"]
    assert (home.uid, home.gid, home.mode) == (65532, 65532, 0o700)
    with tarfile.open(Layout(out).blob_path(base_digest), "r:gz") as tar:
        passwd = tar.extractfile("etc/passwd").read().decode()  # type: ignore[union-attr]
        group = tar.extractfile("etc/group").read().decode()  # type: ignore[union-attr]
        ca = tar.extractfile(CA_PATH.lstrip("/")).read()  # type: ignore[union-attr]
    assert "nonroot:x:65532:65532:nonroot:/home/nonroot:" in passwd
    assert passwd.startswith("root:x:0:0:") and "nobody:x:65534:65534:" in passwd
    assert "nonroot:x:65532:" in group
    assert ca == CA_BUNDLE.read_bytes()  # shipped with gopipe, not the installed certifi
    assert not any(name.startswith("usr/share/zoneinfo") for name in members)
    app = _layer_members(out, res.images[0].layers[1].digest)["usr/local/bin/hello"]
    assert (app.mode, app.uid, app.gid, app.mtime) == (0o755, 0, 0, EPOCH)


def test_static_base_overrides(fake_binaries: dict[str, Path], tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n")
    zoneinfo = tmp_path / "zoneinfo"
    (zoneinfo / "Europe").mkdir(parents=True)
    (zoneinfo / "Europe" / "Paris").write_bytes(b"TZif2 fake")
    (zoneinfo / "UTC").symlink_to("Europe/Paris")
    base = StaticBase(ca_bundle=ca, tzdata=True, zoneinfo=zoneinfo)
    res = _build(_two(fake_binaries), tmp_path / "img", base=base)
    members = _layer_members(tmp_path / "img", res.images[0].layers[0].digest)
    assert members[CA_PATH.lstrip("/")].size == ca.stat().st_size
    assert members["usr/share/zoneinfo/Europe/Paris"].isfile()
    assert members["usr/share/zoneinfo/UTC"].issym()


def test_system_tzdata_is_opt_in(fake_binaries: dict[str, Path], tmp_path: Path) -> None:
    assert Path("/usr/share/zoneinfo/UTC").exists(), "install tzdata (scripts/deps/apt-oci.txt)"
    res = _build(_two(fake_binaries), tmp_path / "img", base=StaticBase(tzdata=True))
    members = _layer_members(tmp_path / "img", res.images[0].layers[0].digest)
    assert "usr/share/zoneinfo/UTC" in members


def test_custom_binary_path_owner_and_extra_files(fake_binaries: dict[str, Path], tmp_path: Path) -> None:
    res = _build(
        _two(fake_binaries),
        tmp_path / "img",
        binary_path="/ko-app/hello",
        binary_owner=(65532, 65532),
        binary_mode=0o550,
        extra_files={"/var/run/ko/index.html": b"<h1>hi</h1>"},
        annotations={"com.example.team": "ci"},
    )
    members = _layer_members(tmp_path / "img", res.images[0].layers[1].digest)
    app = members["ko-app/hello"]
    assert (app.mode, app.uid, app.gid) == (0o550, 65532, 65532)
    assert "var/run/ko/index.html" in members
    config = _json(tmp_path / "img", res.images[0].config_digest)
    assert config["config"]["Entrypoint"] == ["/ko-app/hello"]
    index = _json(tmp_path / "img", res.index_digest)
    assert index["annotations"]["com.example.team"] == "ci"


def test_more_binaries_share_the_app_layer_and_keep_the_default_digest(
    fake_binaries: dict[str, Path], tmp_path: Path
) -> None:
    two = _two(fake_binaries)
    plain = _build(two, tmp_path / "plain")
    assert _build(two, tmp_path / "empty", more_binaries={}).index_digest == plain.index_digest
    multi = _build(two, tmp_path / "multi", more_binaries={"/usr/local/bin/cli": two})
    assert multi.index_digest != plain.index_digest
    assert _build(two, tmp_path / "again", more_binaries={"/usr/local/bin/cli": two}).index_digest == (
        multi.index_digest
    )
    members = _layer_members(tmp_path / "multi", multi.images[0].layers[1].digest)
    assert {"usr/local/bin/hello", "usr/local/bin/cli"} <= set(members)
    config = _json(tmp_path / "multi", multi.images[0].config_digest)
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/hello"]  # the first binary, unless told
    with pytest.raises(ValueError, match="no binary for /usr/local/bin/cli on linux/arm64"):
        _build(two, tmp_path / "x", more_binaries={"/usr/local/bin/cli": {"linux/amd64": two["linux/amd64"]}})
    with pytest.raises(ValueError, match="two binaries at /usr/local/bin/hello"):
        _build(two, tmp_path / "x", more_binaries={"usr/local/bin/hello": two})


def test_rebuild_replaces_layout_and_failure_keeps_it(fake_binaries: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "img"
    _build(fake_binaries, out, epoch=EPOCH - 1)
    second = _build(fake_binaries, out)
    fresh = _build(fake_binaries, tmp_path / "fresh")
    assert _tree(out) == _tree(tmp_path / "fresh")  # no stale blobs from the first build
    assert second.index_digest == fresh.index_digest
    before = _tree(out)
    with pytest.raises(FileNotFoundError):
        _build({"linux/amd64": tmp_path / "missing"}, out)
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "fresh", "img"]


def test_bad_platform_is_rejected(fake_binaries: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="platform"):
        _build({"amd64": fake_binaries["linux/amd64"]}, tmp_path / "x")


# -- real Go binaries, checked with skopeo and umoci ----------------------------------------


def _run(*cmd: str) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def go_image(
    go_binaries: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Any, float]:
    out = tmp_path_factory.mktemp("goimg") / "dist" / "oci" / "hello"
    started = time.perf_counter()
    res = _build(go_binaries, out)
    return out, res, time.perf_counter() - started


@pytest.mark.slow
def test_go_image_is_reproducible(
    go_image: tuple[Path, Any, float],
    go_binaries: dict[str, Path],
    tmp_path: Path,
    record_property: Any,
) -> None:
    out, first, seconds = go_image
    again = _build(go_binaries, tmp_path / "again")
    assert again.index_digest == first.index_digest
    assert _tree(tmp_path / "again") == _tree(out)
    record_property("build_seconds_2_platforms", round(seconds, 3))
    print(f"\n2-platform build: {seconds:.3f}s, index {first.index_digest} == {again.index_digest}")


@pytest.mark.slow
def test_skopeo_reads_layout(go_image: tuple[Path, Any, float], tmp_path: Path) -> None:
    assert SKOPEO, "skopeo missing: install it with scripts/install-test-deps"
    out, res, _ = go_image
    raw = _run("skopeo", "inspect", "--raw", f"oci:{out}:latest").encode()
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == res.index_digest
    for img in res.images:
        arch = img.platform.split("/")[1]
        info = json.loads(_run("skopeo", "--override-arch", arch, "inspect", f"oci:{out}:latest"))
        assert info["Architecture"] == arch
        assert info["Created"] == "2023-11-14T22:13:20Z"
        dest = tmp_path / f"dir-{arch}"
        _run("skopeo", "--override-arch", arch, "copy", f"oci:{out}:latest", f"dir:{dest}")
        manifest = json.loads((dest / "manifest.json").read_bytes())
        assert "sha256:" + hashlib.sha256((dest / "manifest.json").read_bytes()).hexdigest() == (
            img.manifest_digest
        )
        assert manifest["config"]["digest"] == img.config_digest


@pytest.mark.slow
def test_umoci_unpacks_and_binary_runs(go_image: tuple[Path, Any, float], tmp_path: Path) -> None:
    assert SKOPEO and UMOCI, "skopeo/umoci missing: install them with scripts/install-test-deps"
    out, _, _ = go_image
    # umoci does not pick a platform from an index, so take the amd64 image out first.
    single = tmp_path / "single"
    _run("skopeo", "--override-arch", "amd64", "copy", f"oci:{out}:latest", f"oci:{single}:amd64")
    bundle = tmp_path / "bundle"
    _run("umoci", "unpack", "--rootless", "--image", f"{single}:amd64", str(bundle))
    rootfs = bundle / "rootfs"
    binary = rootfs / "usr" / "local" / "bin" / "hello"
    assert binary.stat().st_mode & 0o777 == 0o755
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert "nonroot" in (rootfs / "etc" / "passwd").read_text()
    assert (rootfs / CA_PATH.lstrip("/")).stat().st_size > 100_000
    spec = json.loads((bundle / "config.json").read_bytes())
    assert spec["process"]["args"] == ["/usr/local/bin/hello"]
    assert spec["process"]["user"]["uid"] == 65532
    if os.uname().machine in ("x86_64", "amd64"):
        assert _run(str(binary)).strip() == "hello from gopipe"


@pytest.mark.slow
@pytest.mark.skipif(os.uname().machine not in ("x86_64", "amd64"), reason="runs the amd64 image")
def test_docker_daemon_loads_and_runs_image(go_image: tuple[Path, Any, float], dockerd: Any) -> None:
    assert SKOPEO, "skopeo missing: install it with scripts/install-test-deps"
    out, _, _ = go_image
    _run(
        "skopeo",
        "--insecure-policy",
        "--override-arch",
        "amd64",
        "copy",
        "--dest-daemon-host",
        dockerd.host,
        f"oci:{out}:latest",
        "docker-daemon:gopipe-oci-hello:latest",
    )
    ran = dockerd.run("run", "--rm", "--network", "none", "gopipe-oci-hello:latest")
    assert ran.stdout.strip() == "hello from gopipe"
    user = dockerd.run("image", "inspect", "--format", "{{.Config.User}}", "gopipe-oci-hello:latest")
    assert user.stdout.strip() == "65532:65532"


def test_layout_resolve(fake_binaries: dict[str, Path], tmp_path: Path) -> None:
    res = _build(_two(fake_binaries), tmp_path / "img", ref_names=("latest", "1.2.3"))
    layout = Layout(tmp_path / "img")
    assert layout.resolve().digest == res.index_digest  # several names, one image
    assert layout.resolve("1.2.3").digest == res.index_digest
    with pytest.raises(KeyError):
        layout.resolve("nope")
