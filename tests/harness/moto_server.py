"""AWS APIs (ECR, S3, ...) from `moto` running as a separate server process.

A subprocess rather than the in-process ThreadedMotoServer so its state is
not shared with `mock_aws()` decorators used elsewhere in the same pytest
process, and so code under test that shells out (aws CLI, gopipe sessions)
can reach it through AWS_ENDPOINT_URL.  Credentials are fixed fakes and the
shared config/credentials files point at nothing, so real AWS credentials on
the machine are never read.  moto does not implement ECR layer upload: push
images to a local `registry` using the credentials moto's
GetAuthorizationToken returns.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.harness import procs

REGION = "us-east-1"


@dataclass(frozen=True)
class Moto:
    """Where the moto server listens and which fake credentials to use."""

    endpoint_url: str  # "http://127.0.0.1:PORT"
    region: str = REGION
    access_key_id: str = "testing"
    secret_access_key: str = "testing"

    def env(self) -> dict[str, str]:
        """Fake credentials, region and endpoint for boto3/aws CLI subprocesses."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, service: str) -> Any:
        """A boto3 client for `service` pointed at this server."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            aws_session_token="testing",
        )

    def reset(self) -> None:
        """Drop all state (moto's reset API)."""
        import urllib.request

        req = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass


def _server_env(moto: Moto) -> dict[str, str]:
    """Fake credentials for the server itself (never the machine's real ones)."""
    return {k: v for k, v in moto.env().items() if k != "AWS_ENDPOINT_URL"}


@contextlib.contextmanager
def start_moto(tmp: Path) -> Iterator[Moto]:
    """Run `python -m moto.server` on a free port, logging under `tmp`."""
    if importlib.util.find_spec("moto.server") is None or importlib.util.find_spec("flask") is None:
        pytest.fail(
            f"moto[server] is not installed: {procs.PIP_HINT} (scripts/deps/pip-test.txt)",
            pytrace=False,
        )

    @contextlib.contextmanager
    def serve(port: int) -> Iterator[Moto]:
        moto = Moto(endpoint_url=f"http://127.0.0.1:{port}")
        with procs.running(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            log=tmp / "moto.log",
            what=f"moto server on {port}",
            ready=procs.http_check(f"{moto.endpoint_url}/moto-api/"),
            env={**os.environ, **_server_env(moto), "PYTHONUNBUFFERED": "1"},
            timeout=60,
        ):
            yield moto

    with procs.on_free_port(serve) as moto:
        yield moto


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    """moto server process; call `reset()` if a test needs clean AWS state."""
    tmp = Path(tempfile.mkdtemp(prefix="gopipe-moto-"))
    try:
        started = time.monotonic()
        with start_moto(tmp) as server:
            procs.record_startup("moto", started)
            yield server
    finally:
        procs.rmtree(tmp)
