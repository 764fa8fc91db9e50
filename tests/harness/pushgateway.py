"""A real Prometheus Pushgateway (Debian `prometheus-pushgateway`) on 127.0.0.1.

The DORA/pipeline metrics code pushes with PUT/POST/DELETE and relies on the
gateway's grouping-key semantics, which a fake would have to re-implement;
the real binary starts in well under a second.  Persistence goes to the temp
dir (the Debian default is /var/lib/prometheus) and the admin API is enabled
so tests can wipe all groups between cases.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.harness import procs


@dataclass(frozen=True)
class Pushgateway:
    """Where the gateway listens."""

    url: str  # "http://127.0.0.1:PORT"

    def metrics(self) -> str:
        """The gateway's `/metrics` exposition text (pushed groups included)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as resp:
            return str(resp.read().decode())

    def wipe(self) -> None:
        """Delete every pushed group (admin API)."""
        req = urllib.request.Request(f"{self.url}/api/v1/admin/wipe", method="PUT")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def env(self) -> dict[str, str]:
        return {"PUSHGATEWAY_URL": self.url}


@contextlib.contextmanager
def start_pushgateway(tmp: Path) -> Iterator[Pushgateway]:
    """Run `prometheus-pushgateway` with its state under `tmp`."""
    binary = procs.require_binary("prometheus-pushgateway", "prometheus-pushgateway")

    @contextlib.contextmanager
    def serve(port: int) -> Iterator[Pushgateway]:
        gw = Pushgateway(url=f"http://127.0.0.1:{port}")
        cmd = [
            binary,
            f"--web.listen-address=127.0.0.1:{port}",
            f"--persistence.file={tmp / 'pushgateway.data'}",
            "--web.enable-admin-api",
            "--log.level=info",
        ]
        with procs.running(
            cmd,
            log=tmp / "pushgateway.log",
            what=f"pushgateway on {port}",
            ready=procs.http_check(f"{gw.url}/-/ready"),
        ):
            yield gw

    with procs.on_free_port(serve) as gw:
        yield gw


@pytest.fixture(scope="session")
def pushgateway() -> Iterator[Pushgateway]:
    """Pushgateway on a free port; call `wipe()` if a test needs an empty gateway."""
    tmp = Path(tempfile.mkdtemp(prefix="gopipe-pushgateway-"))
    try:
        started = time.monotonic()
        with start_pushgateway(tmp) as gw:
            procs.record_startup("pushgateway", started)
            yield gw
    finally:
        procs.rmtree(tmp)
