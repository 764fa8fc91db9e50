"""Layer tarballs are byte-for-byte reproducible and carry no build-machine noise."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from gopipe_oci import Dir, File, Symlink, build_layer
from gopipe_oci.layer import normalize_path

from .conftest import EPOCH


def _entries(tmp_path: Path) -> dict[str, object]:
    binary = tmp_path / "app"
    binary.write_bytes(b"\x7fELF fake binary" * 1000)
    binary.chmod(0o700)
    return {
        "/usr/local/bin/app": File(binary, mode=0o755),
        "/etc/app.conf": b"key = value\n",
        "/var/lib/app": Dir(mode=0o750, uid=65532, gid=65532),
        "/usr/bin/app": Symlink("../local/bin/app"),
    }


def _sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_inputs_same_bytes(tmp_path: Path) -> None:
    entries = _entries(tmp_path)
    a = build_layer(entries, tmp_path / "a.tar.gz", epoch=EPOCH)  # type: ignore[arg-type]
    b = build_layer(entries, tmp_path / "b.tar.gz", epoch=EPOCH)  # type: ignore[arg-type]
    assert a.path.read_bytes() == b.path.read_bytes()
    assert (a.digest, a.diff_id, a.size) == (b.digest, b.diff_id, b.size)
    assert a.digest == _sha(a.path)
    raw = gzip.decompress(a.path.read_bytes())
    assert a.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert a.uncompressed_size == len(raw)


def test_different_mtime_different_digest(tmp_path: Path) -> None:
    entries = _entries(tmp_path)
    a = build_layer(entries, tmp_path / "a.tar.gz", epoch=EPOCH)  # type: ignore[arg-type]
    b = build_layer(entries, tmp_path / "b.tar.gz", epoch=EPOCH + 1)  # type: ignore[arg-type]
    assert a.digest != b.digest
    assert a.diff_id != b.diff_id


def test_insertion_order_does_not_matter(tmp_path: Path) -> None:
    entries = _entries(tmp_path)
    reversed_entries = dict(reversed(list(entries.items())))
    a = build_layer(entries, tmp_path / "a.tar.gz", epoch=EPOCH)  # type: ignore[arg-type]
    b = build_layer(reversed_entries, tmp_path / "b.tar.gz", epoch=EPOCH)  # type: ignore[arg-type]
    assert a.digest == b.digest


def test_tar_members_are_normalised(tmp_path: Path) -> None:
    layer = build_layer(_entries(tmp_path), tmp_path / "l.tar.gz", epoch=EPOCH)  # type: ignore[arg-type]
    with tarfile.open(layer.path, "r:gz") as tar:
        members = tar.getmembers()
        assert tar.pax_headers == {}
    names = [m.name for m in members]
    assert names == sorted(names)
    # every parent directory is present, before its children
    assert names[:3] == ["etc", "etc/app.conf", "usr"]
    assert {"usr/local", "usr/local/bin", "var", "var/lib"} <= set(names)
    by_name = {m.name: m for m in members}
    for m in members:
        assert m.mtime == EPOCH
        assert m.uname == "" and m.gname == ""
        assert m.pax_headers == {}
    app = by_name["usr/local/bin/app"]
    assert (app.mode, app.uid, app.gid) == (0o755, 0, 0)
    assert by_name["etc/app.conf"].mode == 0o644
    var = by_name["var/lib/app"]
    assert var.isdir() and (var.mode, var.uid, var.gid) == (0o750, 65532, 65532)
    assert by_name["usr/local"].mode == 0o755
    link = by_name["usr/bin/app"]
    assert link.issym() and link.linkname == "../local/bin/app"


def test_gzip_header_has_no_mtime_or_name(tmp_path: Path) -> None:
    layer = build_layer({"/a": b"x"}, tmp_path / "some-name.tar.gz", epoch=EPOCH)
    head = layer.path.read_bytes()[:10]
    assert head[:3] == b"\x1f\x8b\x08"
    assert head[3] == 0  # FLG: no FNAME, no FEXTRA, no comment
    assert head[4:8] == b"\0\0\0\0"  # MTIME = 0
    assert head[9] == 255  # OS = unknown, same on every build machine
    raw = gzip.decompress(layer.path.read_bytes())
    assert b"PaxHeader" not in raw and b"././@LongLink" not in raw


def test_host_tree_copy_keeps_symlinks_and_exec_bit(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "run.sh").write_text("#!/bin/sh\n")
    (tree / "sub" / "run.sh").chmod(0o700)
    (tree / "data.txt").write_text("data")
    (tree / "data.txt").chmod(0o600)
    (tree / "link").symlink_to("data.txt")
    layer = build_layer({"/opt/tree": tree}, tmp_path / "t.tar.gz", epoch=EPOCH)
    with tarfile.open(layer.path, "r:gz") as tar:
        by_name = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile("opt/tree/data.txt").read() == b"data"  # type: ignore[union-attr]
    assert by_name["opt/tree/sub/run.sh"].mode == 0o755
    assert by_name["opt/tree/data.txt"].mode == 0o644
    assert by_name["opt/tree/link"].issym()
    assert by_name["opt/tree/link"].linkname == "data.txt"
    assert by_name["opt/tree/sub"].isdir()


def test_long_paths_use_gnu_longname(tmp_path: Path) -> None:
    name = "/" + "/".join(["d" * 60] * 5) + "/file"
    layer = build_layer({name: b"x"}, tmp_path / "long.tar.gz", epoch=EPOCH)
    with tarfile.open(fileobj=io.BytesIO(layer.path.read_bytes()), mode="r:gz") as tar:
        assert name.lstrip("/") in tar.getnames()


@pytest.mark.parametrize("bad", ["", "/", "../etc/passwd", "/a/../../b"])
def test_invalid_paths_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_path(bad)


def test_paths_are_normalised() -> None:
    assert normalize_path("/usr//local/./bin/") == "usr/local/bin"
    assert normalize_path("etc/passwd") == "etc/passwd"
