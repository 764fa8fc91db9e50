"""An OCI 1.1 registry with the referrers API: go-containerregistry's ``pkg/registry``
(v0.22.1, pinned in tests/fixtures/referrers-registry/go.mod) behind a small Go wrapper.

docker-registry 2.8 (``tests/harness/registry.py``) has no referrers API, which is how the
tag-scheme fallback is tested; this one is. Plain HTTP on loopback, no auth, in memory. The
binary is built once per Go version and source digest into gopipe's tool cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.harness import procs

from gopipe.gotools import GoToolchain, cache_root

SOURCE = Path(__file__).resolve().parents[1] / "fixtures" / "referrers-registry"


@dataclass(frozen=True)
class ReferrersRegistry:
    host: str  # "127.0.0.1:PORT"

    @property
    def url(self) -> str:
        return f"http://{self.host}"


def binary() -> Path:
    """Build the wrapper on first use: cached by Go version and the digest of its sources."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update((SOURCE / name).read_bytes())
    go = GoToolchain(SOURCE, os.environ)
    out = (
        cache_root()
        / "tools"
        / go.version()
        / f"referrers-registry@{digest.hexdigest()[:16]}"
        / "referrers-registry"
    )
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
        subprocess.run(
            ["go", "build", "-trimpath", "-o", str(out), "."],
            cwd=SOURCE,
            env=env,
            check=True,
            capture_output=True,
        )
    return out


@contextlib.contextmanager
def start_referrers_registry(tmp: Path) -> Iterator[ReferrersRegistry]:
    exe = binary()

    @contextlib.contextmanager
    def serve(port: int) -> Iterator[ReferrersRegistry]:
        reg = ReferrersRegistry(f"127.0.0.1:{port}")
        with procs.running(
            [str(exe), "-addr", reg.host],
            log=tmp / "referrers-registry.log",
            what=f"referrers registry on {reg.host}",
            ready=procs.http_check(f"{reg.url}/v2/"),
        ):
            yield reg

    with procs.on_free_port(serve) as reg:
        yield reg


@pytest.fixture(scope="session")
def referrers_registry() -> Iterator[ReferrersRegistry]:
    tmp = Path(tempfile.mkdtemp(prefix="referrers-registry-"))
    try:
        started = time.monotonic()
        with start_referrers_registry(tmp) as reg:
            procs.record_startup("referrers-registry", started)
            yield reg
    finally:
        procs.rmtree(tmp)
