"""Shared set-up for the remote-cache tests: a repository whose cache is a real local registry."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from pathlib import Path

import pytest
from tests.harness.moto_server import Moto
from tests.harness.registry import Registry

from gopipe.remote_cache.connection import Connection
from gopipe.testing import RunResult
from gopipe_oci import RegistryClient

PASSWORD_ENV = "GOPIPE_TEST_CACHE_PASSWORD"


ONE_TARGET = 'targets = ["linux/amd64"]'


def one_target(repo: Path) -> None:
    """Build for linux/amd64 only: the cache tests need one binary, not four."""
    config = repo / "pyproject.toml"
    text = config.read_text()
    start = text.index("targets = [")
    end = text.index("]", start) + 1
    config.write_text(text[:start] + ONE_TARGET + text[end:])


def binary_of(result: RunResult) -> dict[str, str]:
    return next(a for a in result.report["artifacts"] if a["kind"] == "binary")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def use_remote_cache(
    repo: Path,
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    *,
    repository: str = "",
    extra: str = "",
    go_build_cache: bool = False,
    plain: bool = False,
) -> str:
    """Point ``repo``'s ``[tool.gopipe.cache]`` at ``registry``; return the repository name."""
    name = repository or f"cache-{uuid.uuid4().hex[:10]}"
    scheme = "oci+http" if plain or registry.ca_cert is None else "oci"
    lines = [
        "",
        "[tool.gopipe.cache]",
        f'remote = "{scheme}://{registry.host}/{name}"',
        f"go_build_cache = {'true' if go_build_cache else 'false'}",
    ]
    if registry.username:
        lines += [f'username = "{registry.username}"', f'password = {{ env = "{PASSWORD_ENV}" }}']
        monkeypatch.setenv(PASSWORD_ENV, str(registry.password))
    if registry.ca_cert is not None:
        lines.append(f'ca_file = "{registry.ca_cert}"')
    config = repo / "pyproject.toml"
    config.write_text(config.read_text() + "\n".join(lines) + "\n" + extra)
    return name


def trusted_push(monkeypatch: pytest.MonkeyPatch, ref: str = "refs/heads/main") -> None:
    """The environment of a CI run of a push to ``ref`` (a ref that writes by default)."""
    monkeypatch.setenv("GITHUB_EVENT_NAME", "push")
    monkeypatch.setenv("GITHUB_REF", ref)
    monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)


def fresh_runner(repo: Path) -> None:
    """What a new CI runner has of a previous run: nothing under ``dist/``."""
    shutil.rmtree(repo / "dist", ignore_errors=True)


def client_for(registry: Registry) -> RegistryClient:
    return (
        RegistryClient(
            registry.host,
            credentials=None,
            use_docker_config=False,
            plain_http=registry.ca_cert is None,
            ca_file=registry.ca_cert,
        )
        if registry.username is None
        else Connection(
            host=registry.host,
            repository="unused",
            ca_file=str(registry.ca_cert or ""),
            username=registry.username,
            password_env=PASSWORD_ENV,
        ).client({PASSWORD_ENV: str(registry.password)}, lambda s: s)
    )


def stage_tags(registry: Registry, repository: str) -> list[str]:
    with client_for(registry) as client:
        return sorted(t for t in client.list_tags(repository) if t.startswith("stage-"))


def events(repo: Path, kind: str) -> list[dict[str, object]]:
    path = repo / "dist" / "gopipe" / "events.jsonl"
    found = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == kind or event.get("type") == kind:
            found.append(event)
    return found


def use_s3_cache(
    repo: Path,
    moto: Moto,
    monkeypatch: pytest.MonkeyPatch,
    *,
    endpoint: str = "",
    extra: str = "",
    go_build_cache: bool = False,
) -> tuple[str, str]:
    """Point ``repo``'s cache at a new bucket of ``moto`` (real HTTP); return (bucket, prefix).

    The fake credentials go in the environment, as a CI job's AWS credentials would.
    """
    bucket = f"gopipe-cache-{uuid.uuid4().hex[:10]}"
    moto.client("s3").create_bucket(Bucket=bucket)
    prefix = "team/ci-cache"
    lines = [
        "",
        "[tool.gopipe.cache]",
        f'remote = "s3://{bucket}/{prefix}"',
        f'endpoint_url = "{endpoint or moto.endpoint_url}"',
        f"go_build_cache = {'true' if go_build_cache else 'false'}",
    ]
    for name, value in moto.env().items():
        if name != "AWS_ENDPOINT_URL":
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    config = repo / "pyproject.toml"
    config.write_text(config.read_text() + "\n".join(lines) + "\n" + extra)
    return bucket, prefix


def s3_keys(moto: Moto, bucket: str, prefix: str, under: str) -> list[str]:
    """The object keys below ``<prefix>/<under>`` (``refs/stage-``, ``blobs/``)."""
    pages = (
        moto.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/{under}")
    )
    return sorted(str(o["Key"]) for page in pages for o in page.get("Contents", []))
