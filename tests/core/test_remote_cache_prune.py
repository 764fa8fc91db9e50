"""``gopipe cache prune`` on a real registry: count and age limits, dry runs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from tests.core.remote_cache_helpers import stage_tags, use_remote_cache
from tests.harness.registry import Registry

from gopipe.cache import CachedStage
from gopipe.cli import main
from gopipe.config import load_config
from gopipe.remote_cache.connection import Connection
from gopipe.remote_cache.options import load_cache_options
from gopipe.remote_cache.prune import prune
from gopipe.remote_cache.stages import RemoteStageCache
from gopipe.remote_cache.trust import WriteDecision
from gopipe.stages import Stage

pytestmark = pytest.mark.slow  # a real registry


def _fill(repo: Path, count: int) -> None:
    config = load_config(repo)
    opts = load_cache_options(config)
    store = RemoteStageCache(
        Connection.from_options(opts, repo, os.environ),
        opts,
        root=repo,
        dist=repo / "dist",
        env=dict(os.environ),
        redact=lambda s: s,
        say=lambda s: None,
        writes=WriteDecision(True, "test"),
    )
    for i in range(count):
        store.store(Stage.LINT, CachedStage(f"{i:064x}", f"entry {i}", [], []), lambda o: o)
    assert store.down is None
    store.close()


def test_prune_keeps_the_newest_and_drops_the_old(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "pyproject.toml").write_text("[tool.gopipe]\n")
    name = use_remote_cache(repo, registry, monkeypatch, extra="retention = { max_entries = 2 }\n")
    _fill(repo, 3)
    assert len(stage_tags(registry, name)) == 3

    assert main(["cache", "prune", "-C", str(repo), "--dry-run"]) == 0
    assert "would delete 1" in capsys.readouterr().out
    assert len(stage_tags(registry, name)) == 3

    assert main(["cache", "prune", "-C", str(repo)]) == 0
    assert len(stage_tags(registry, name)) == 2

    result = prune(repo, now=time.time() + 31 * 86400, say=lambda s: None)  # a month later
    assert len(result.deleted) == 2 and stage_tags(registry, name) == []
    assert str(registry.password) not in capsys.readouterr().out


def test_prune_without_a_remote_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.gopipe]\n")
    assert main(["cache", "prune", "-C", str(tmp_path)]) == 2
    assert "no remote cache is configured" in capsys.readouterr().err
