"""``gopipe.remote_cache.gocacheprog`` as the real ``go`` command's GOCACHEPROG, on a real registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from tests.core.remote_cache_helpers import PASSWORD_ENV
from tests.harness.registry import Registry

pytestmark = pytest.mark.slow  # real Go builds and a real registry

MAIN = 'package main\n\nimport "strconv"\n\nfunc main() { println(strconv.Itoa(42)) }\n'


def _module(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "go.mod").write_text("module example.com/gcp\n\ngo 1.24\n")
    (path / "main.go").write_text(MAIN)
    return path


def _build(module: Path, local: Path, settings: Path, registry: Registry, *, writes: bool) -> dict[str, int]:
    stats = local.with_suffix(".stats")
    env = {
        **os.environ,
        "GOCACHEPROG": f"{sys.executable} -m gopipe.remote_cache.gocacheprog",
        "GOPIPE_CACHE_CONNECTION": str(settings),
        "GOPIPE_CACHE_WRITES": "1" if writes else "0",
        "GOPIPE_GOCACHEPROG_DIR": str(local),
        "GOPIPE_GOCACHEPROG_STATS": str(stats),
        PASSWORD_ENV: str(registry.password),
        "GOFLAGS": "-trimpath",
    }
    subprocess.run(
        ["go", "build", "-o", str(module / "out"), "."], cwd=module, env=env, check=True, timeout=900
    )
    expected = "43\n" if "43" in (module / "main.go").read_text() else "42\n"
    assert subprocess.run([str(module / "out")], capture_output=True, text=True).stderr == expected
    totals: dict[str, int] = {}
    for line in stats.read_text().splitlines():  # one line per go process
        for key, value in json.loads(line).items():
            totals[key] = totals.get(key, 0) + value
    stats.unlink()
    return totals


def test_a_fresh_runner_gets_the_build_cache_from_the_registry(tmp_path: Path, registry: Registry) -> None:
    module = _module(tmp_path / "mod")
    settings = tmp_path / "connection.json"
    settings.write_text(
        json.dumps(
            {
                "host": registry.host,
                "repository": f"gocache-{uuid.uuid4().hex[:8]}",
                "ca_file": str(registry.ca_cert),
                "username": registry.username,
                "password_env": PASSWORD_ENV,
            }
        )
    )
    first = _build(module, tmp_path / "runner1", settings, registry, writes=True)
    assert first["put"] > 0 and first["remote_hit"] == 0

    # a new runner: empty local directory, the registry warm; only what go asks for is fetched
    second = _build(module, tmp_path / "runner2", settings, registry, writes=False)
    assert second["miss"] == 0, second
    assert second["remote_hit"] > 0 and second["put"] == 0

    # a read-only run on a third runner after a change stores nothing new
    (module / "main.go").write_text(MAIN.replace("42", "43"))
    third = _build(module, tmp_path / "runner3", settings, registry, writes=False)
    assert third["remote_hit"] > 0 and third["miss"] > 0


def test_an_unreachable_registry_still_builds(tmp_path: Path, registry: Registry) -> None:
    module = _module(tmp_path / "mod")
    settings = tmp_path / "connection.json"
    settings.write_text(json.dumps({"host": "127.0.0.1:9", "repository": "gone", "plain_http": True}))
    stats = _build(module, tmp_path / "runner", settings, registry, writes=True)
    assert stats["miss"] > 0 and stats["remote_hit"] == 0
