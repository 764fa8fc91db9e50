"""The real ``cosign`` and ``oras`` CLIs, built from their Go modules at gopipe's pins.

They come from gopipe's own tool cache (``gopipe tools --install`` pre-warms it), so the
versions are the ones in :data:`gopipe.gotools.TOOLS`. Keys are made by ``cosign
generate-key-pair`` itself, so the tests also prove gopipe reads cosign's key files.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gopipe.gotools import TOOLS, GoToolchain


def tool(name: str) -> Path:
    return GoToolchain(Path.cwd(), os.environ).tool(TOOLS[name])


@dataclass(frozen=True)
class CosignKey:
    """A key pair written by ``cosign generate-key-pair``."""

    private: Path
    public: Path
    password: str


def generate_key(directory: Path, password: str) -> CosignKey:
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(tool("cosign")), "generate-key-pair"],
        cwd=directory,
        env={**os.environ, "COSIGN_PASSWORD": password},
        check=True,
        capture_output=True,
    )
    return CosignKey(directory / "cosign.key", directory / "cosign.pub", password)


def cosign(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run cosign offline: no transparency log, no signing config from the public instance."""
    return subprocess.run(
        [str(tool("cosign")), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def offline_signing_config(directory: Path) -> Path:
    """A signing config with no services (``cosign signing-config create``): cosign v3 then
    signs with the key alone, writes no transparency log, and stores Sigstore bundles as OCI
    referrers (its default format), without reaching the public Sigstore instance."""
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / "signing-config.json"
    subprocess.run(
        [str(tool("cosign")), "signing-config", "create", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out
