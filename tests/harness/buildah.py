"""Daemonless image builds with Debian `buildah`, isolated in a temp dir.

buildah keeps images in containers/storage, normally under /var/lib/containers
and shared by every user of the machine.  Here root, runroot, TMPDIR, the auth
file, registries.conf and storage.conf all live in a private temp dir, the
storage driver is vfs (no overlay mounts to leak) and RUN steps use chroot
isolation (no runc/netns needed).  Registry CAs are trusted per command with
`--cert-dir` (see `registry_args`), never via /etc/containers/certs.d.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.harness import procs
from tests.harness.registry import Registry


@dataclass(frozen=True)
class Buildah:
    """A buildah whose storage and config are private to one test session."""

    binary: str
    root: Path  # --root (graphroot)
    runroot: Path  # --runroot
    config_dir: Path  # storage.conf, registries.conf, auth.json
    tmpdir: Path  # TMPDIR for layer staging (default /var/tmp)

    def env(self) -> dict[str, str]:
        """Variables that make a bare `buildah`/`skopeo` call use the private setup."""
        return {
            "CONTAINERS_STORAGE_CONF": str(self.config_dir / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(self.config_dir / "registries.conf"),
            "REGISTRY_AUTH_FILE": str(self.config_dir / "auth.json"),
            "STORAGE_DRIVER": "vfs",
            "BUILDAH_ISOLATION": "chroot",
            "TMPDIR": str(self.tmpdir),
        }

    def cmd(self, *args: str) -> list[str]:
        """`env K=V... buildah --root ... --runroot ... --storage-driver vfs ARGS`.

        The env is part of the command line so the list works with a bare
        `subprocess.run(cmd)`.
        """
        return [
            "env",
            *(f"{k}={v}" for k, v in self.env().items()),
            self.binary,
            "--root", str(self.root),
            "--runroot", str(self.runroot),
            "--storage-driver", "vfs",
            *args,
        ]  # fmt: skip

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run buildah; raise with its output on failure."""
        done = subprocess.run(self.cmd(*args), capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"buildah {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )
        return done

    @staticmethod
    def registry_args(registry: Registry) -> list[str]:
        """TLS/credential flags for push/pull/login/bud against `registry`."""
        if registry.ca_cert is not None:
            args = [f"--cert-dir={registry.ca_cert.parent}", "--tls-verify=true"]
        else:
            args = ["--tls-verify=false"]
        if registry.username is not None and registry.password is not None:
            args.append(f"--creds={registry.username}:{registry.password}")
        return args


def make_buildah(tmp: Path) -> Buildah:
    """Lay out private storage/config under `tmp` (buildah has no daemon to start)."""
    binary = procs.require_binary("buildah", "buildah")
    b = Buildah(
        binary=binary,
        root=tmp / "root",
        runroot=tmp / "runroot",
        config_dir=tmp / "config",
        tmpdir=tmp / "tmp",
    )
    for d in (b.root, b.runroot, b.config_dir, b.tmpdir):
        d.mkdir(parents=True, exist_ok=True)
    (b.config_dir / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{b.root}"\nrunroot = "{b.runroot}"\n'
    )
    # Fully qualified names only: nothing can be pulled from public registries here.
    (b.config_dir / "registries.conf").write_text("unqualified-search-registries = []\n")
    (b.config_dir / "auth.json").write_text('{"auths": {}}\n')
    return b


@pytest.fixture(scope="session")
def buildah() -> Iterator[Buildah]:
    """Private buildah (vfs, chroot isolation); storage removed at teardown."""
    tmp = Path(tempfile.mkdtemp(prefix="gopipe-buildah-"))
    try:
        started = time.monotonic()
        b = make_buildah(tmp)
        subprocess.run(b.cmd("info"), capture_output=True, check=True, timeout=60)
        procs.record_startup("buildah", started)
        yield b
    finally:
        # vfs layers are plain directories; no mounts to undo.
        procs.rmtree(tmp)
