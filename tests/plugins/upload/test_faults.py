"""Pushes through the fault-injecting proxy (``faulty_registry``: plain and TLS+auth backends).

The proxy answers some requests with 500/503 or drops the connection; the push must retry
and end with exactly the built image in the backend, or fail after the retry budget with a
clear message and no ``image-ref`` artifact (deploy must never see a half-pushed image).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.harness import skopeo
from tests.harness.faulty_proxy import FaultyRegistry
from tests.plugins.upload.conftest import RunFn, artifacts, env_ref, set_tables, unique_repo

pytestmark = pytest.mark.slow

FAST_RETRY = {"max_attempts": 4, "budget": 20, "base_delay": 0.01, "max_delay": 0.05}


def configure(
    repo: Path, faulty: FaultyRegistry, monkeypatch: pytest.MonkeyPatch, retry: dict[str, Any]
) -> str:
    """Push through the proxy's plain-HTTP front (insecure is allowed: it is on loopback)."""
    table: dict[str, Any] = {
        "registry": env_ref("FRONT_HOST"),
        "insecure": True,
        "repository": unique_repo("faults"),
        "retry": retry,
    }
    monkeypatch.setenv("FRONT_HOST", faulty.host)
    if faulty.front.username and faulty.front.password:
        monkeypatch.setenv("FRONT_USER", faulty.front.username)
        monkeypatch.setenv("FRONT_PASSWORD", faulty.front.password)
        table |= {"username": env_ref("FRONT_USER"), "password": env_ref("FRONT_PASSWORD")}
    set_tables(repo, {"providers": ["oci-image"]}, {"providers": ["registry"], "registry": table})
    return str(table["repository"]).replace("{name}", "hello")


def test_push_retries_5xx_and_drops_then_succeeds(
    cd_repo: Path,
    faulty_registry: FaultyRegistry,
    gopipe_run: RunFn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repository = configure(cd_repo, faulty_registry, monkeypatch, FAST_RETRY)
    proxy = faulty_registry.proxy
    proxy.fail(503, method="HEAD", path="/blobs/sha256:", times=1)
    proxy.fail(500, method="PUT", path="/blobs/uploads/", times=2)
    proxy.drop(method="PUT", path="/manifests/sha256:", times=1)
    proxy.fail(503, method="PUT", path="/manifests/1.2.3$", times=1)
    result = gopipe_run(cd_repo, "upload")
    out = capsys.readouterr().out
    assert result.exit_code == 0, out
    assert len(proxy.injected) == 5
    [ref] = artifacts(result, "image-ref")
    assert ref["extra"]["retries"] == 5
    [image] = artifacts(result, "image")
    assert ref["extra"]["digest"] == image["extra"]["index_digest"]
    backend = faulty_registry.backend
    assert skopeo.digest(skopeo.ref(backend, repository, "1.2.3"), backend) == ref["extra"]["digest"]
    log = (cd_repo / "dist" / "gopipe" / "logs" / "upload.log").read_text()
    assert "retry 1 after" in log  # retries are visible in the stage log


def test_push_over_retry_budget_fails_without_image_ref(
    cd_repo: Path,
    faulty_registry: FaultyRegistry,
    gopipe_run: RunFn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure(cd_repo, faulty_registry, monkeypatch, {**FAST_RETRY, "max_attempts": 3})
    faulty_registry.proxy.fail(503, method="POST", path="/blobs/uploads/", times=1000)
    result = gopipe_run(cd_repo, "cd")
    capsys.readouterr()
    assert result.exit_code == 1
    error = result.stage("upload")["error"]
    assert f"push of hello to {faulty_registry.host}/" in error, error
    assert "giving up, 3 attempts failed; last error: HTTP 503" in error, error
    assert artifacts(result, "image-ref") == []
    assert result.stage("deploy")["status"] == "skipped"
