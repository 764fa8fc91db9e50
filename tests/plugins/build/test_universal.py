"""Universal darwin binaries: fat Mach-O files written in Python from real ``go build`` output,
read back by Go's own ``debug/macho`` (``macho.OpenFat``) and by ``file``, and archived."""

from __future__ import annotations

import json
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.plugins.package.conftest import commit_all

from gopipe.testing import RunResult

pytestmark = pytest.mark.slow

READ_FAT = """package main

import (
\t"debug/macho"
\t"fmt"
\t"os"
)

func main() {
\tf, err := macho.OpenFat(os.Args[1])
\tif err != nil {
\t\tfmt.Println("error:", err)
\t\tos.Exit(1)
\t}
\tfor _, a := range f.Arches {
\t\tfmt.Println(a.Cpu, a.Offset, a.Size)
\t}
}
"""


def test_a_universal_binary_holds_both_slices_byte_for_byte(
    go_repo: Path, gopipe_run: Callable[..., RunResult], tmp_path: Path
) -> None:
    (go_repo / "pyproject.toml").write_text(
        '[tool.gopipe]\ntargets = ["darwin/amd64", "darwin/arm64"]\n'
        '[tool.gopipe.build.go]\nuniversal_darwin = true\n[tool.gopipe.package]\nproviders = ["archive"]\n'
        "[tool.gopipe.package.archive]\nsbom = false\n"
    )
    commit_all(go_repo)
    result = gopipe_run(go_repo, "package")
    assert result.exit_code == 0, json.dumps(result.report["stages"], indent=1)
    binaries = {(a["os"], a["arch"]): a for a in result.report["artifacts"] if a["kind"] == "binary"}
    fat = go_repo / binaries[("darwin", "all")]["path"]
    described = subprocess.run(["file", "-b", str(fat)], capture_output=True, text=True, check=True).stdout
    assert "Mach-O universal binary with 2 architectures" in described

    reader = tmp_path / "readfat"
    reader.mkdir()
    (reader / "go.mod").write_text("module readfat\n\ngo 1.24\n")
    (reader / "main.go").write_text(READ_FAT)
    out = subprocess.run(
        ["go", "run", ".", str(fat)], cwd=reader, capture_output=True, text=True, check=True
    ).stdout
    arches = [line.split() for line in out.splitlines()]
    assert [a[0] for a in arches] == ["CpuAmd64", "CpuArm64"]
    data = fat.read_bytes()
    for (cpu, offset, size), arch in zip(arches, ("amd64", "arm64"), strict=True):
        thin = (go_repo / binaries[("darwin", arch)]["path"]).read_bytes()
        assert data[int(offset) : int(offset) + int(size)] == thin, cpu
        assert int(offset) % (1 << 14) == 0
    assert struct.unpack(">I", data[:4])[0] == 0xCAFEBABE
    archives = [a["name"] for a in result.report["artifacts"] if a["kind"] == "archive"]
    assert any("darwin_all" in name for name in archives), archives


def test_not_a_macho_binary_is_refused(tmp_path: Path) -> None:
    from gopipe_plugins.build.universal import MachOError, write_universal

    elf = tmp_path / "elf"
    elf.write_bytes(b"\x7fELF" + b"\0" * 60)
    with pytest.raises(MachOError, match="not a 64-bit Mach-O"):
        write_universal([elf, elf], tmp_path / "fat")
