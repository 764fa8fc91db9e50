"""Retries against a real registry behind a fault-injecting proxy (5xx, 429, drops, delays)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tests.harness import procs
from tests.harness.faulty_proxy import FaultyRegistry

from gopipe_oci import (
    ImageResult,
    RegistryClient,
    RetryExhaustedError,
    RetryPolicy,
    build_image,
    push_layout,
)

from .conftest import EPOCH, client_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def image(go_binaries: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> ImageResult:
    out = tmp_path_factory.mktemp("faulty") / "hello"
    return build_image(go_binaries, out, name="hello", epoch=EPOCH)


def _repo(faulty: FaultyRegistry, request: pytest.FixtureRequest) -> str:
    """A repository unique to this test and parameter (blobs are per repository)."""
    name = request.node.name.replace("[", "-").replace("]", "").replace("_", "-").lower()
    return f"faults/{name}"


def test_push_retries_and_succeeds(
    faulty_registry: FaultyRegistry,
    image: ImageResult,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy = faulty_registry.proxy
    proxy.fail(500, method="HEAD", path="/blobs/sha256:", times=1)
    proxy.drop(method="POST", path="/blobs/uploads/$", times=1)
    proxy.fail(503, method="PUT", path="/blobs/uploads/", times=2)
    proxy.drop(method="PUT", path="/manifests/sha256:", times=1)
    proxy.fail(429, method="PUT", path="/manifests/", times=1)
    repo = _repo(faulty_registry, request)
    caplog.set_level(logging.INFO)
    client = client_for(faulty_registry.front)
    result = push_layout(image.layout, f"{faulty_registry.host}/{repo}:v1", client=client)
    assert result.digest == image.index_digest
    assert result.uploaded == 5
    assert result.retries == len(proxy.injected) == 6
    assert proxy.count("PUT", "/blobs/uploads/") == 5 + 2
    assert "retry" in caplog.text
    if faulty_registry.front.password:
        assert faulty_registry.front.password not in caplog.text
    # verified behind the proxy, on the real registry
    backend = client_for(faulty_registry.backend)
    assert backend.head_manifest(repo, "v1") == image.index_digest


def test_fault_budget_larger_than_retry_budget_fails_clearly(
    faulty_registry: FaultyRegistry, image: ImageResult, request: pytest.FixtureRequest
) -> None:
    proxy = faulty_registry.proxy
    proxy.fail(503, method="PUT", path="/blobs/uploads/", times=50)
    repo = _repo(faulty_registry, request)
    policy = RetryPolicy(max_attempts=3, budget=10, base_delay=0.01, max_delay=0.02)
    client = client_for(faulty_registry.front, retry=policy)
    with pytest.raises(RetryExhaustedError) as err:
        push_layout(image.layout, f"{faulty_registry.host}/{repo}:v1", client=client)
    message = str(err.value)
    first_blob = image.images[0].config_digest
    assert f"upload of blob {first_blob}" in message
    assert "3 attempts failed" in message and "HTTP 503" in message
    assert err.value.status == 503 and err.value.attempts == 3
    assert proxy.count("PUT", "/blobs/uploads/") == 3
    # nothing was tagged: a failed push is never half reported as success
    assert client_for(faulty_registry.backend).head_manifest(repo, "v1") is None


def test_client_wide_retry_budget(
    faulty_registry: FaultyRegistry, image: ImageResult, request: pytest.FixtureRequest
) -> None:
    proxy = faulty_registry.proxy
    proxy.drop(method="HEAD", path="/blobs/", times=10)
    policy = RetryPolicy(max_attempts=10, budget=3, base_delay=0.01, max_delay=0.02)
    client = client_for(faulty_registry.front, retry=policy)
    with pytest.raises(RetryExhaustedError, match="retry budget exhausted") as err:
        push_layout(image.layout, f"{faulty_registry.host}/{_repo(faulty_registry, request)}", client=client)
    assert "connection failed" in str(err.value)
    assert client.retries == 3


def test_failing_index_push_is_not_success(
    faulty_registry: FaultyRegistry, image: ImageResult, request: pytest.FixtureRequest
) -> None:
    proxy = faulty_registry.proxy
    proxy.fail(502, method="PUT", path=f"/manifests/{image.index_digest}$", times=20)
    repo = _repo(faulty_registry, request)
    client = client_for(faulty_registry.front)
    with pytest.raises(RetryExhaustedError, match=f"push of manifest {image.index_digest}"):
        push_layout(image.layout, f"{faulty_registry.host}/{repo}:v1", client=client)
    backend = client_for(faulty_registry.backend)
    assert backend.head_manifest(repo, "v1") is None
    # platform manifests went first and are complete
    for img in image.images:
        assert backend.head_manifest(repo, img.manifest_digest) == img.manifest_digest


def test_timeout_is_retried(
    faulty_registry: FaultyRegistry, image: ImageResult, request: pytest.FixtureRequest
) -> None:
    faulty_registry.proxy.delay(3.0, method="HEAD", path="/blobs/", times=1)
    client = client_for(faulty_registry.front, timeout=1.0)
    result = push_layout(
        image.layout, f"{faulty_registry.host}/{_repo(faulty_registry, request)}", client=client
    )
    assert result.retries == 1


def test_connection_refused_exhausts() -> None:
    port = procs.free_port()  # nothing listens there
    policy = RetryPolicy(max_attempts=3, budget=5, base_delay=0.01, max_delay=0.02)
    client = RegistryClient(f"127.0.0.1:{port}", plain_http=True, retry=policy, use_docker_config=False)
    with pytest.raises(RetryExhaustedError, match="ConnectionRefusedError"):
        client.blob_exists("x/y", "sha256:" + "0" * 64)
