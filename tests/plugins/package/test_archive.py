"""The ``archive`` packager on a real Go module with a real dependency: archive contents and
modes, byte-for-byte reproducibility, ``sha256sum -c`` on checksums.txt, and CycloneDX
SBOMs validated against the official 1.5 JSON schema (shipped by cyclonedx-python-lib)."""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.plugins.package.conftest import (
    TEXT_MODULE,
    TEXT_VERSION,
    commit_all,
    go_binary,
    write_package_config,
)

from gopipe.testing import RunResult
from gopipe_plugins.package import sbom
from gopipe_plugins.package.archive_writer import Format

EPOCH = 1767323045  # 2026-01-02T03:04:05Z, the fixture commit time

pytestmark = pytest.mark.slow


def _artifacts(result: RunResult, kind: str) -> list[dict[str, Any]]:
    return [a for a in result.report["artifacts"] if a["kind"] == kind]


def _run_ok(gopipe_run: Callable[..., RunResult], repo: Path) -> RunResult:
    result = gopipe_run(repo, "package")
    assert result.exit_code == 0, json.dumps(result.report.get("stages"), indent=1)
    return result


def _dist_bytes(repo: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (repo / "dist").iterdir() if p.is_file()}


def test_archives_hold_binary_and_docs_with_fixed_metadata(
    dep_repo: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    result = _run_ok(gopipe_run, dep_repo)
    version = result.report["git"]["version"]
    dist = dep_repo / "dist"
    tgz = dist / f"greeter_{version}_linux_amd64.tar.gz"
    zipped = dist / f"greeter_{version}_windows_amd64.zip"

    raw = tgz.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\0\0\0\0", "gzip header mtime must be 0"
    assert raw[3] & 0x08 == 0, "gzip header must not carry a file name"
    with tarfile.open(tgz) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["LICENSE", "README.md", "greeter"]
        for m in members:
            assert (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "", "", EPOCH)
            assert m.isfile()
        modes = {m.name: m.mode for m in members}
        assert modes == {"LICENSE": 0o644, "README.md": 0o644, "greeter": 0o755}
        binary = tar.extractfile("greeter")
        assert binary is not None
        assert binary.read() == (dist / "greeter_linux_amd64" / "greeter").read_bytes()

    with zipfile.ZipFile(zipped) as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == ["LICENSE", "README.md", "greeter.exe"]
        for i in infos:
            assert i.date_time == (2026, 1, 2, 3, 4, 4)  # MS-DOS time: 2-second steps
            assert i.create_system == 3
        assert {i.filename: i.external_attr >> 16 for i in infos} == {
            "LICENSE": 0o100644,
            "README.md": 0o100644,
            "greeter.exe": 0o100755,
        }
        assert zf.read("greeter.exe") == (dist / "greeter_windows_amd64" / "greeter.exe").read_bytes()

    archives = _artifacts(result, "archive")
    assert {(a["os"], a["arch"], a["extra"]["format"], a["name"]) for a in archives} == {
        ("linux", "amd64", "tar.gz", tgz.name),
        ("windows", "amd64", "zip", zipped.name),
    }
    for a in archives:
        assert a["sha256"] == sbom_sha(dep_repo / a["path"])
        assert a["stage"] == "package" and a["provider"] == "archive"
    [checksums] = _artifacts(result, "checksums")
    assert checksums["path"] == "dist/checksums.txt"
    sboms = _artifacts(result, "sbom")
    assert {(s["os"], s["extra"]["binary"]) for s in sboms} == {("linux", "greeter"), ("windows", "greeter")}


def sbom_sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_runs_give_identical_bytes_and_checksums(
    dep_repo: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    first = _run_ok(gopipe_run, dep_repo)
    before = _dist_bytes(dep_repo)
    # Nothing from the file system may leak in: new mtimes, a different umask.
    shutil.rmtree(dep_repo / "dist")
    for name in ("README.md", "LICENSE"):
        os.utime(dep_repo / name, (EPOCH + 999_999, EPOCH + 999_999))
    old_umask = os.umask(0o077)
    try:
        second = _run_ok(gopipe_run, dep_repo)
    finally:
        os.umask(old_umask)
    after = _dist_bytes(dep_repo)
    assert sorted(before) == sorted(after)
    assert {n for n in before if n.endswith((".tar.gz", ".zip", ".cdx.json"))} and before == after
    digests = {a["name"]: a["sha256"] for r in (first, second) for a in _artifacts(r, "archive")}
    assert len(digests) == 2


def test_checksums_file_verifies_with_sha256sum(dep_repo: Path, gopipe_run: Callable[..., RunResult]) -> None:
    write_package_config(
        dep_repo,
        '[tool.gopipe.package]\nproviders = ["archive"]\n\n'
        "[tool.gopipe.package.archive]\nchecksum_sboms = true\n",
        ("linux/amd64", "linux/arm64", "windows/amd64"),
    )
    commit_all(dep_repo)
    result = _run_ok(gopipe_run, dep_repo)
    dist = dep_repo / "dist"
    lines = (dist / "checksums.txt").read_text().splitlines()
    names = [line.split("  ", 1)[1] for line in lines]
    assert names == sorted(names)
    assert len([n for n in names if n.endswith((".tar.gz", ".zip"))]) == 3
    assert len([n for n in names if n.endswith(".cdx.json")]) == 3
    check = subprocess.run(
        ["sha256sum", "--strict", "-c", "checksums.txt"],
        cwd=dist,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == 6
    [checksums] = _artifacts(result, "checksums")
    assert checksums["extra"]["files"] == names and checksums["extra"]["algorithm"] == "sha256"


def test_sbom_is_valid_cyclonedx_listing_the_dependency(
    dep_repo: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from packageurl import PackageURL

    result = _run_ok(gopipe_run, dep_repo)
    version = result.report["git"]["version"]
    path = dep_repo / "dist" / f"greeter_{version}_linux_amd64.cdx.json"
    text = path.read_text()
    errors = JsonStrictValidator(SchemaVersion.V1_5).validate_str(text)
    assert errors is None, str(errors)
    bom = json.loads(text)
    assert bom["specVersion"] == "1.5" and bom["metadata"]["timestamp"] == "2026-01-02T03:04:05Z"

    app = bom["metadata"]["component"]
    binary = dep_repo / "dist" / "greeter_linux_amd64" / "greeter"
    assert app["name"] == "greeter" and app["version"] == version
    assert app["hashes"] == [{"alg": "SHA-256", "content": sbom_sha(binary)}]
    props = {p["name"]: p["value"] for p in app["properties"]}
    assert props["gopipe:go:module"] == "example.com/greeter"
    assert props["gopipe:go:package"] == "example.com/greeter/cmd/greeter"
    assert props["gopipe:go:version"].startswith("go1.")
    assert props["gopipe:go:build:GOOS"] == "linux" and props["gopipe:go:build:GOARCH"] == "amd64"
    assert props["gopipe:go:build:CGO_ENABLED"] == "0"
    assert props["gopipe:go:build:-trimpath"] == "true"

    by_name = {c["name"]: c for c in bom["components"]}
    text_mod = by_name[TEXT_MODULE]
    assert text_mod["version"] == TEXT_VERSION
    assert PackageURL.from_string(text_mod["purl"]).to_dict() | {"qualifiers": None} == {
        "type": "golang",
        "namespace": "golang.org/x",
        "name": "text",
        "version": TEXT_VERSION,
        "qualifiers": None,
        "subpath": None,
    }
    go_sum = (dep_repo / "go.sum").read_text().split()
    h1 = go_sum[go_sum.index(TEXT_VERSION) + 1]
    assert h1.startswith("h1:")
    assert text_mod["hashes"] == [{"alg": "SHA-256", "content": base64.b64decode(h1[3:]).hex()}]
    assert {"name": "gopipe:go:sum", "value": h1} in text_mod["properties"]
    assert by_name["std"]["version"] == props["gopipe:go:version"]
    assert bom["dependencies"] == [
        {"ref": app["bom-ref"], "dependsOn": [c["bom-ref"] for c in bom["components"]]}
    ]
    [artifact] = [s for s in _artifacts(result, "sbom") if s["os"] == "linux"]
    assert artifact["extra"]["binary"] == "greeter"
    assert artifact["extra"]["binary_path"] == "dist/greeter_linux_amd64/greeter"
    assert artifact["path"] == f"dist/{path.name}"


def test_text_and_json_build_info_agree_on_a_real_binary(
    dep_repo: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    """The text parser is the fallback for toolchains without ``go version -m -json``."""
    _run_ok(gopipe_run, dep_repo)
    binary = dep_repo / "dist" / "greeter_linux_amd64" / "greeter"
    go = go_binary()
    as_json = subprocess.run(
        [go, "version", "-m", "-json", str(binary)], capture_output=True, text=True, check=True
    ).stdout
    as_text = subprocess.run(
        [go, "version", "-m", str(binary)], capture_output=True, text=True, check=True
    ).stdout
    parsed_json, parsed_text = sbom.parse_json(as_json), sbom.parse_text(as_text)
    assert parsed_json == parsed_text
    assert [(d.path, d.version) for d in parsed_json.deps] == [(TEXT_MODULE, TEXT_VERSION)]


def test_name_template_and_wrapping(dep_repo: Path, gopipe_run: Callable[..., RunResult]) -> None:
    write_package_config(
        dep_repo,
        """[tool.gopipe.package]
providers = ["archive"]

[tool.gopipe.package.archive]
name_template = "{binary}-{version}-{os}-{arch}"
wrap_in_directory = true
files = ["readme*", "docs/*.md"]
format_overrides = {}
sbom = false
""",
        ("linux/amd64", "windows/amd64"),
    )
    commit_all(dep_repo)
    result = _run_ok(gopipe_run, dep_repo)
    version = result.report["git"]["version"]
    base = f"greeter-{version}-windows-amd64"
    with tarfile.open(dep_repo / "dist" / f"{base}.tar.gz") as tar:
        assert tar.getnames() == [
            base,
            f"{base}/README.md",
            f"{base}/docs",
            f"{base}/docs/usage.md",
            f"{base}/greeter.exe",
        ]
        assert {m.name: m.mode for m in tar.getmembers() if m.isdir()} == {base: 0o755, f"{base}/docs": 0o755}
    assert not _artifacts(result, "sbom")
    assert not list((dep_repo / "dist").glob("*.cdx.json"))


def test_bad_name_template_fails_in_one_line(dep_repo: Path, gopipe_run: Callable[..., RunResult]) -> None:
    write_package_config(
        dep_repo,
        '[tool.gopipe.package]\nproviders = ["archive"]\n\n'
        '[tool.gopipe.package.archive]\nname_template = "{project}_{nope}"\n',
        ("linux/amd64",),
    )
    commit_all(dep_repo)
    result = gopipe_run(dep_repo, "package")
    assert result.exit_code == 2  # a typo in config: bad input, not a failed package
    error = result.stage("package")["error"]
    assert "tool.gopipe.package.archive.name_template" in error and "{nope}" in error and "\n" not in error
    assert "{version}" in error  # the variables it may use


def test_gzip_stream_is_deterministic_helper(tmp_path: Path) -> None:
    """The writer alone: same entries in a different order give the same bytes."""
    from gopipe_plugins.package.archive_writer import Entry, write_tar_gz

    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("A")
    b.write_text("B")
    write_tar_gz(tmp_path / "1.tar.gz", [Entry("x/a", a), Entry("b", b, executable=True)], mtime=EPOCH)
    write_tar_gz(tmp_path / "2.tar.gz", [Entry("b", b, executable=True), Entry("x/a", a)], mtime=EPOCH)
    assert (tmp_path / "1.tar.gz").read_bytes() == (tmp_path / "2.tar.gz").read_bytes()
    with tarfile.open(tmp_path / "1.tar.gz") as tar:
        assert tar.getnames() == ["b", "x", "x/a"]
        assert [m.mode for m in tar.getmembers()] == [0o755, 0o755, 0o644]
    assert gzip.decompress((tmp_path / "1.tar.gz").read_bytes())[:1] == b"b"


@pytest.mark.parametrize("name", ["../a", "/etc/a", "x/../../a", "x//a", ""])
@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_writer_refuses_member_names_that_escape(tmp_path: Path, name: str, fmt: Format) -> None:
    """Whatever the caller passes, an archive never holds a member that extracts outside."""
    from gopipe_plugins.package.archive_writer import Entry, write_archive

    a = tmp_path / "a"
    a.write_text("A")
    with pytest.raises(ValueError, match="unsafe archive member"):
        write_archive(tmp_path / f"out.{fmt}", fmt, [Entry("ok", a), Entry(name, a)], mtime=EPOCH)
    assert not (tmp_path / f"out.{fmt}").exists()  # refused before anything is written


@pytest.mark.parametrize("level", [1, 6, 9])
def test_streamed_tar_gz_equals_compressing_the_whole_tar_and_its_hash(tmp_path: Path, level: int) -> None:
    """Streaming through gzip gives the bytes of compressing the whole tar at once, and the
    digest returned while writing is the file's sha256."""
    import hashlib
    import io

    from gopipe_plugins.package.archive_writer import Entry, write_tar_gz

    big = tmp_path / "big"
    big.write_bytes(os.urandom(300_000) + bytes(3_000_000) + b"tail")  # several tar/gzip chunks
    small = tmp_path / "README"
    small.write_text("read me\n")
    entries = [Entry("bin/app", big, executable=True), Entry("README", small)]
    out = tmp_path / "a.tar.gz"
    digest = write_tar_gz(out, entries, mtime=EPOCH, compresslevel=level)
    assert digest == hashlib.sha256(out.read_bytes()).hexdigest()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("README", "bin", "bin/app"):
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = EPOCH, 0, 0, "", ""
            if name == "bin":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                continue
            data = (big if name == "bin/app" else small).read_bytes()
            info.size, info.mode = len(data), 0o755 if name == "bin/app" else 0o644
            tar.addfile(info, io.BytesIO(data))
    whole = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=whole, mtime=0, compresslevel=level) as gz:
        gz.write(raw.getvalue())
    assert out.read_bytes() == whole.getvalue()


def test_compression_level_is_applied_to_both_formats(tmp_path: Path) -> None:
    from gopipe_plugins.package.archive_writer import Entry, write_archive

    data = tmp_path / "data"
    data.write_bytes(b"".join(b"%d gopipe compresses this line\n" % i for i in range(60_000)))
    for fmt in ("tar.gz", "zip"):
        sizes = {}
        for level in (1, 9):
            out = tmp_path / f"l{level}.{fmt}"
            write_archive(out, fmt, [Entry("data", data)], mtime=EPOCH, compresslevel=level)
            sizes[level] = out.stat().st_size
        assert sizes[9] < sizes[1], fmt


@pytest.mark.slow
def test_parallel_archives_equal_one_at_a_time(dep_repo: Path, gopipe_run: Callable[..., RunResult]) -> None:
    """Writing archives at once changes no byte and no order of checksums.txt."""
    pyproject = dep_repo / "pyproject.toml"
    base = pyproject.read_text() + "\n[tool.gopipe.package.archive]\n"
    pyproject.write_text(base + "parallel = 0\n")  # both runs see a dirty tree: same version
    _run_ok(gopipe_run, dep_repo)
    together = _dist_bytes(dep_repo)
    pyproject.write_text(base + "parallel = 1\n")
    _run_ok(gopipe_run, dep_repo)
    assert _dist_bytes(dep_repo) == together
