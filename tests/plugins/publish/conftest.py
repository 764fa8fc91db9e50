"""A publish-stage provider context on a real run, with files recorded as this run's artifacts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.core.run_context import GIT, make_run, provider_context
from tests.harness.github_api import FakeGitHub, fake_github

from gopipe.artifacts import Artifact, sha256_file
from gopipe.context import ProviderContext, RunContext

TOKEN = "ghp_" + "q7Zx" * 9


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    monkeypatch.setenv("GH_TEST_TOKEN", TOKEN)
    with fake_github(token=TOKEN) as server:
        yield server


@pytest.fixture
def release_run(tmp_path: Path) -> RunContext:
    """A run of a repository tagged v1.2.0 whose dist/ holds an archive, checksums, an SBOM,
    a deb and the changelog, each recorded as an artifact."""
    root = tmp_path / "repo"
    run = make_run(root)
    run.git = replace(GIT, tag="v1.2.0", version="1.2.0")
    dist = root / "dist"
    dist.mkdir(parents=True, exist_ok=True)
    files = {
        "archive": "fixture_1.2.0_linux_amd64.tar.gz",
        "checksums": "checksums.txt",
        "sbom": "fixture_1.2.0_linux_amd64.cdx.json",
        "package": "fixture_1.2.0_amd64.deb",
        "changelog": "CHANGELOG.md",
    }
    for kind, name in files.items():
        path = dist / name
        path.write_text("## v1.2.0\n\n- feat: greet\n" if kind == "changelog" else f"{kind} bytes\n")
        run.artifacts.add(
            Artifact(kind, name, path=f"dist/{name}", sha256=sha256_file(path), stage="package", provider="t")
        )
    return run


@pytest.fixture
def publish_ctx(release_run: RunContext) -> Callable[..., ProviderContext[Any]]:
    def make(options: Any) -> ProviderContext[Any]:
        return provider_context(release_run, "publish", "github", options)

    return make
