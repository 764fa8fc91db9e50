"""The Bearer challenge flow against docker-registry configured for token auth."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from gopipe_oci import (
    AuthError,
    Credentials,
    ImageResult,
    RegistryClient,
    build_image,
    pull_layout,
    push_layout,
)

from .conftest import EPOCH, FAST_RETRY
from .token_auth import SERVICE, TokenRegistry, start_token_registry

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def token_registry() -> Iterator[TokenRegistry]:
    with start_token_registry() as reg:
        yield reg


@pytest.fixture(scope="module")
def image(fake_module_binaries: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> ImageResult:
    out = tmp_path_factory.mktemp("bearer") / "img"
    return build_image(fake_module_binaries, out, name="hello", epoch=EPOCH)


@pytest.fixture(scope="module")
def fake_module_binaries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bins")
    out = {}
    for plat in ("linux/amd64", "linux/arm64"):
        path = root / plat.replace("/", "-")
        path.write_bytes(plat.encode() * 5000)
        out[plat] = path
    return out


def _client(reg: TokenRegistry, password: str | None = None) -> RegistryClient:
    svc = reg.service
    return RegistryClient(
        reg.host,
        credentials=Credentials(svc.username, password or svc.password),
        plain_http=True,
        use_docker_config=False,
        retry=FAST_RETRY,
    )


def test_push_and_pull_with_bearer_tokens(
    token_registry: TokenRegistry,
    image: ImageResult,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    svc = token_registry.service
    svc.requests.clear()
    client = _client(token_registry)
    first = push_layout(image.layout, f"{token_registry.host}/acme/hello:v1", client=client)
    second = push_layout(image.layout, f"{token_registry.host}/acme/hello:v1", client=client)
    assert first.digest == second.digest == image.index_digest
    assert (first.uploaded, second.uploaded, second.skipped) == (5, 0, 5)
    # one token for pull,push on the repository, reused for every request
    assert len(svc.requests) == 1
    query = svc.requests[0]["query"]
    assert query["service"] == [SERVICE]  # type: ignore[index]
    assert "repository:acme/hello:pull,push" in query["scope"]  # type: ignore[index]
    assert svc.requests[0]["user"] == svc.username

    reader = _client(token_registry)
    pulled = pull_layout(f"{token_registry.host}/acme/hello:v1", tmp_path / "pulled", client=reader)
    assert pulled.digest == image.index_digest
    assert "repository:acme/hello:pull" in svc.requests[-1]["query"]["scope"]  # type: ignore[index]
    for token in svc.issued:
        assert token not in caplog.text
    assert svc.password not in caplog.text


def test_wrong_password_rejected_by_token_service(token_registry: TokenRegistry, image: ImageResult) -> None:
    client = _client(token_registry, password="wrong-password-123")
    with pytest.raises(AuthError, match="rejected the credentials") as err:
        push_layout(image.layout, f"{token_registry.host}/acme/hello:v2", client=client)
    assert "wrong-password-123" not in str(err.value)
    assert err.value.status == 401
