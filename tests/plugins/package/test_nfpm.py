"""The ``nfpm`` packager with the pinned nFPM: packages read back by ``dpkg-deb`` and ``rpm``,
a deb installed with ``dpkg -i`` into a throwaway root whose binary then runs, and two builds
of one commit byte-identical."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.plugins.package.conftest import commit_all

from gopipe.testing import RunResult

pytestmark = pytest.mark.slow

CONFIG = """[tool.gopipe]
targets = ["linux/amd64", "linux/arm64"]

[tool.gopipe.package]
providers = ["nfpm"]

[tool.gopipe.package.nfpm]
formats = ["deb", "rpm", "apk", "archlinux"]
name = "fixture"
maintainer = "Gopipe Maintainers <ci@example.com>"
description = "The gopipe test fixture."
license = "Apache-2.0"
depends = ["ca-certificates"]
scripts = { postinstall = "packaging/postinstall.sh" }

[[tool.gopipe.package.nfpm.contents]]
src = "packaging/fixture.conf"
dst = "/etc/fixture/fixture.conf"
type = "config|noreplace"
mode = 416

[[tool.gopipe.package.nfpm.contents]]
dst = "/var/lib/fixture"
type = "dir"
"""


def packages(result: RunResult) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in result.report["artifacts"] if a["kind"] == "package"}


@pytest.fixture
def packaged(go_repo: Path, gopipe_run: Callable[..., RunResult]) -> tuple[Path, RunResult]:
    (go_repo / "packaging").mkdir()
    (go_repo / "packaging" / "fixture.conf").write_text("greeting = hello\n")
    (go_repo / "packaging" / "postinstall.sh").write_text("#!/bin/sh\necho fixture installed\n")
    (go_repo / "pyproject.toml").write_text(CONFIG)
    commit_all(go_repo)
    result = gopipe_run(go_repo, "package")
    assert result.exit_code == 0, json.dumps(result.report.get("stages"), indent=1)
    return go_repo, result


def test_every_format_for_every_linux_arch(packaged: tuple[Path, RunResult]) -> None:
    _repo, result = packaged
    version = result.report["git"]["version"]
    names = set(packages(result))
    for arch in ("amd64", "arm64"):
        for ext in ("deb", "rpm", "apk", "pkg.tar.zst"):
            assert f"fixture_{version}_{arch}.{ext}" in names


def test_dpkg_deb_and_rpm_read_the_packages(packaged: tuple[Path, RunResult]) -> None:
    repo, result = packaged
    version = result.report["git"]["version"]
    deb = repo / "dist" / f"fixture_{version}_amd64.deb"
    info = subprocess.run(["dpkg-deb", "--info", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "Package: fixture" in info and "Architecture: amd64" in info
    assert "Maintainer: Gopipe Maintainers <ci@example.com>" in info
    assert "Depends: ca-certificates" in info and "postinst" in info
    listing = subprocess.run(
        ["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    lines = {line.split()[-1]: line for line in listing.splitlines()}
    assert lines["./usr/bin/fixture"].startswith("-rwxr-xr-x")
    assert lines["./etc/fixture/fixture.conf"].startswith("-rw-r-----")
    assert "2026-01-02 03:04" in lines["./usr/bin/fixture"]  # the commit time, not now
    assert "./var/lib/fixture/" in lines
    rpm = repo / "dist" / f"fixture_{version}_arm64.rpm"
    query = subprocess.run(["rpm", "-qip", str(rpm)], capture_output=True, text=True, check=True).stdout
    assert "Name        : fixture" in query and "Architecture: aarch64" in query
    assert "License     : Apache-2.0" in query
    files = subprocess.run(["rpm", "-qlp", str(rpm)], capture_output=True, text=True, check=True).stdout
    assert "/usr/bin/fixture" in files.split()
    apk = (repo / "dist" / f"fixture_{version}_amd64.apk").read_bytes()
    pkginfo = _apk_pkginfo(apk)
    assert "pkgname = fixture" in pkginfo and "arch = x86_64" in pkginfo


def _apk_pkginfo(data: bytes) -> str:
    """.PKGINFO from an apk: concatenated gzip streams of tar segments."""
    raw = gzip.GzipFile(fileobj=io.BytesIO(data)).read()  # reads every member
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:", ignore_zeros=True) as tar:
        for member in tar:
            if member.name == ".PKGINFO":
                handle = tar.extractfile(member)
                assert handle is not None
                return handle.read().decode()
    raise AssertionError("no .PKGINFO in the apk")


def test_a_deb_installs_into_a_throwaway_root_and_runs(
    packaged: tuple[Path, RunResult], tmp_path: Path
) -> None:
    repo, result = packaged
    version = result.report["git"]["version"]
    root = tmp_path / "root"
    admin = root / "var" / "lib" / "dpkg"
    for sub in ("info", "updates", "triggers"):
        (admin / sub).mkdir(parents=True)
    (admin / "status").write_text("")
    done = subprocess.run(
        [
            "dpkg",
            f"--root={root}",
            f"--instdir={root}",
            f"--admindir={admin}",
            "--force-depends",
            "--force-script-chrootless",
            "--force-not-root",
            "--log=/dev/null",
            "-i",
            str(repo / "dist" / f"fixture_{version}_amd64.deb"),
        ],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert "fixture installed" in done.stdout
    out = subprocess.run([str(root / "usr" / "bin" / "fixture")], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"fixture {version}"
    assert (root / "etc" / "fixture" / "fixture.conf").read_text() == "greeting = hello\n"
    assert "Status: install ok installed" in (admin / "status").read_text()


def test_two_builds_of_one_commit_are_byte_identical(
    packaged: tuple[Path, RunResult], gopipe_run: Callable[..., RunResult]
) -> None:
    repo, first = packaged
    before = {name: (repo / "dist" / name).read_bytes() for name in packages(first)}
    shutil.rmtree(repo / "dist")
    second = gopipe_run(repo, "package", "--no-cache")
    assert second.exit_code == 0
    after = {name: (repo / "dist" / name).read_bytes() for name in packages(second)}
    assert after.keys() == before.keys()
    assert [n for n in before if before[n] != after[n]] == []
