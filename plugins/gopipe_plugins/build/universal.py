"""Universal (fat) Mach-O binaries, written in Python the way ``lipo -create`` writes them.

A fat file is a big-endian header (magic ``0xCAFEBABE``, the number of slices), one
``fat_arch`` record per slice (cpu type, cpu subtype, offset, size, alignment as a power of
two), then each thin Mach-O binary at its aligned offset. The cpu type and subtype are read
from each thin binary's own header, so only 64-bit Mach-O files (``0xFEEDFACF``) are accepted;
slices are ordered by cpu type and aligned to 2^14, so the same inputs give the same bytes.
"""

from __future__ import annotations

import struct
from pathlib import Path

FAT_MAGIC = 0xCAFEBABE
MH_MAGIC_64 = 0xFEEDFACF
ALIGN = 14  # 16 KiB: the arm64 page size, what lipo uses for arm64 and x86_64 slices


class MachOError(ValueError):
    """A file that is not a thin 64-bit Mach-O binary, or two slices of one cpu type."""


def cpu_of(data: bytes, name: str) -> tuple[int, int]:
    """``(cputype, cpusubtype)`` of a thin 64-bit little-endian Mach-O binary."""
    if len(data) < 32 or struct.unpack_from("<I", data, 0)[0] != MH_MAGIC_64:
        raise MachOError(f"{name} is not a 64-bit Mach-O binary")
    cputype, cpusubtype = struct.unpack_from("<ii", data, 4)
    return cputype & 0xFFFFFFFF, cpusubtype & 0xFFFFFFFF


def write_universal(thin: list[Path], out: Path) -> list[tuple[int, int]]:
    """Write the fat binary of ``thin`` to ``out``; return each slice's (cputype, cpusubtype)."""
    slices = []
    for path in thin:
        data = path.read_bytes()
        slices.append((cpu_of(data, path.name), data))
    slices.sort(key=lambda s: s[0])
    cpus = [cpu for cpu, _ in slices]
    if len({c[0] for c in cpus}) != len(cpus):
        raise MachOError("two slices have the same cpu type")
    header = struct.pack(">II", FAT_MAGIC, len(slices))
    offset = _align(8 + 20 * len(slices))
    records, body = [], bytearray()
    for (cputype, cpusubtype), data in slices:
        start = _align(offset + len(body))
        body += b"\0" * (start - offset - len(body))
        records.append(struct.pack(">IIIII", cputype, cpusubtype, start, len(data), ALIGN))
        body += data
    head = header + b"".join(records)
    out.write_bytes(head + b"\0" * (offset - len(head)) + bytes(body))
    out.chmod(0o755)
    return cpus


def _align(value: int) -> int:
    step = 1 << ALIGN
    return (value + step - 1) // step * step
