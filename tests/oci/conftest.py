"""Shared fixtures for the OCI library tests: tiny static Go binaries and client factories."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.harness.registry import Registry

from gopipe_oci import Credentials, RegistryClient, RetryPolicy

EPOCH = 1_700_000_000  # a fixed "commit time"
PLATFORMS = ("linux/amd64", "linux/arm64")
MAIN_GO = """package main

import "fmt"

func main() { fmt.Println("hello from gopipe") }
"""
FAST_RETRY = RetryPolicy(max_attempts=4, budget=20, base_delay=0.01, max_delay=0.05)


def _go() -> str:
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        pytest.fail("the go toolchain is required to build test binaries", pytrace=False)
    return go


@pytest.fixture(scope="session")
def go_binaries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """linux/amd64 and linux/arm64 builds of a hello-world, reproducible flags (ko/goreleaser)."""
    src = tmp_path_factory.mktemp("gosrc")
    (src / "main.go").write_text(MAIN_GO)
    (src / "go.mod").write_text("module example.com/hello\n\ngo 1.22\n")
    out: dict[str, Path] = {}
    for plat in PLATFORMS:
        arch = plat.split("/")[1]
        binary = src / f"hello-{arch}"
        env = {
            **os.environ,
            "CGO_ENABLED": "0",
            "GOOS": "linux",
            "GOARCH": arch,
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-mod=mod",
        }
        subprocess.run(
            [_go(), "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", str(binary), "."],
            cwd=src,
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        out[plat] = binary
    return out


@pytest.fixture
def fake_binaries(tmp_path: Path) -> dict[str, Path]:
    """Stand-in 'binaries' (fixed bytes) for tests that only care about image structure."""
    out: dict[str, Path] = {}
    for plat in (*PLATFORMS, "linux/arm/v7"):
        path = tmp_path / "bin" / plat.replace("/", "_")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"#!/bin/true {plat}\n".encode() * 100)
        path.chmod(0o755)
        out[plat] = path
    return out


ClientFactory = Callable[..., RegistryClient]


def client_for(registry: Registry, **kw: object) -> RegistryClient:
    """A client configured from a harness Registry (credentials, CA, scheme)."""
    creds = (
        Credentials(registry.username, registry.password)
        if registry.username is not None and registry.password is not None
        else None
    )
    options: dict[str, object] = {
        "credentials": creds,
        "ca_file": registry.ca_cert,
        "plain_http": registry.ca_cert is None,
        "use_docker_config": False,
        "retry": FAST_RETRY,
    }
    options.update(kw)
    return RegistryClient(registry.host, **options)  # type: ignore[arg-type]
