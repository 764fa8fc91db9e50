"""The remote stage cache against a real local registry (TLS, htpasswd auth).

Each test plays CI runners: a run writes the cache, ``dist/`` is emptied (a new runner), and
the next run must restore from the registry, reject what does not match, or carry on when
the registry is gone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.core.remote_cache_helpers import (
    binary_of,
    client_for,
    events,
    fresh_runner,
    one_target,
    sha256_of,
    stage_tags,
    trusted_push,
    use_remote_cache,
)
from tests.harness import procs
from tests.harness.faulty_proxy import FaultyRegistry
from tests.harness.registry import Registry

from gopipe.testing import RunResult

pytestmark = pytest.mark.slow  # real Go builds and a real registry


def test_hit_restores_the_build_and_a_change_misses(
    hello_repo: Path,
    registry: Registry,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one_target(hello_repo)
    repository = use_remote_cache(hello_repo, registry, monkeypatch)
    trusted_push(monkeypatch)
    first = gopipe_run(hello_repo, "build")
    assert first.exit_code == 0 and first.stage("build")["cached"] is False
    assert len(stage_tags(registry, repository)) == 1
    built = binary_of(first)

    fresh_runner(hello_repo)
    second = gopipe_run(hello_repo, "build")
    assert second.exit_code == 0
    assert second.stage("build")["cached"] is True
    assert second.stage("build")["inputs"] == first.stage("build")["inputs"]
    restored = binary_of(second)
    assert restored["sha256"] == built["sha256"] == sha256_of(hello_repo / restored["path"])
    assert (hello_repo / restored["path"]).stat().st_mode & 0o111, "the binary must stay executable"
    finished = events(hello_repo, "remote_cache_finished")[-1]
    assert finished["hits"] == 1 and finished["rejected"] == 0

    greet = hello_repo / "internal/greet/greet.go"
    greet.write_text(greet.read_text() + "\nconst Edited = true\n")
    fresh_runner(hello_repo)
    third = gopipe_run(hello_repo, "build")
    assert third.exit_code == 0 and third.stage("build")["cached"] is False
    assert events(hello_repo, "remote_cache_finished")[-1]["misses"] == 1
    assert len(stage_tags(registry, repository)) == 2

    fresh_runner(hello_repo)
    forced = gopipe_run(hello_repo, "build", "--no-cache")
    assert forced.stage("build")["cached"] is False
    assert events(hello_repo, "remote_cache") == []  # --no-cache does not even connect


def test_a_poisoned_blob_is_rejected_and_the_stage_runs(
    hello_repo: Path,
    registry: Registry,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    one_target(hello_repo)
    use_remote_cache(hello_repo, registry, monkeypatch)
    trusted_push(monkeypatch)
    first = gopipe_run(hello_repo, "build")
    sha = binary_of(first)["sha256"]
    # someone with write access to the registry's storage swaps the binary's bytes
    data = registry.root / "docker/registry/v2/blobs/sha256" / sha[:2] / sha / "data"
    original = data.read_bytes()  # the registry is shared by the session: put it back after
    data.write_bytes(b"POISONED-BY-TEST" * (len(original) // 16))
    try:
        fresh_runner(hello_repo)
        capsys.readouterr()
        second = gopipe_run(hello_repo, "build")
        out = capsys.readouterr().out
        assert second.exit_code == 0
        assert second.stage("build")["cached"] is False, "a blob that fails its digest must not be used"
        assert "rejected" in out and "does not match" in out
        binary = hello_repo / binary_of(second)["path"]
        assert sha256_of(binary) == sha and b"POISONED-BY-TEST" not in binary.read_bytes()
        assert events(hello_repo, "remote_cache_finished")[-1]["rejected"] == 1
    finally:
        data.write_bytes(original)


@pytest.mark.parametrize("write", ["trusted", "always"])
def test_a_pull_request_run_reads_but_never_writes(
    hello_repo: Path,
    registry: Registry,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
    write: str,
) -> None:
    one_target(hello_repo)
    repository = use_remote_cache(hello_repo, registry, monkeypatch, extra=f'write = "{write}"\n')
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request")
    monkeypatch.setenv("GITHUB_REF", "refs/pull/7/merge")
    result = gopipe_run(hello_repo, "build")
    assert result.exit_code == 0
    assert stage_tags(registry, repository) == []
    decision = events(hello_repo, "remote_cache")[-1]
    assert decision["writes"] is False and "pull_request" in str(decision["why"])


def test_an_untrusted_branch_reads_and_a_tag_writes(
    hello_repo: Path,
    registry: Registry,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one_target(hello_repo)
    repository = use_remote_cache(hello_repo, registry, monkeypatch)
    trusted_push(monkeypatch, "refs/heads/feature")
    assert gopipe_run(hello_repo, "build").exit_code == 0
    assert stage_tags(registry, repository) == []
    fresh_runner(hello_repo)
    trusted_push(monkeypatch, "refs/tags/v1.0.0")
    assert gopipe_run(hello_repo, "build").exit_code == 0
    assert len(stage_tags(registry, repository)) == 1
    fresh_runner(hello_repo)
    trusted_push(monkeypatch, "refs/heads/feature")
    assert gopipe_run(hello_repo, "build").stage("build")["cached"] is True


@pytest.mark.parametrize("faulty_registry", ["tls"], indirect=True)
def test_the_registry_going_down_mid_run_only_costs_speed(
    hello_repo: Path,
    faulty_registry: FaultyRegistry,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    one_target(hello_repo)
    proxy = faulty_registry.proxy
    use_remote_cache(hello_repo, faulty_registry.front, monkeypatch, plain=True)
    trusted_push(monkeypatch)
    # the lookups get through; from the first upload on, every connection is dropped
    proxy.drop(path="/blobs/uploads/", times=None)
    proxy.drop(method="HEAD", times=None)
    proxy.drop(method="PUT", times=None)
    capsys.readouterr()
    result = gopipe_run(hello_repo, "ci")
    out = capsys.readouterr().out
    assert result.exit_code == 0, out[-3000:]
    assert all(s["status"] == "success" for s in result.report["stages"])
    assert proxy.count("GET", "/manifests/") >= 1, "the run must have read the cache first"
    assert "remote cache unavailable, continuing without it (only speed is lost)" in out
    assert out.count("remote cache unavailable") == 1, "one line, not one per stage"
    assert events(hello_repo, "remote_cache_finished")[-1]["down"]


def test_an_unreachable_registry_only_costs_speed(
    hello_repo: Path,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    one_target(hello_repo)
    dead = Registry(f"127.0.0.1:{procs.free_port()}", None, None, None, hello_repo)
    use_remote_cache(hello_repo, dead, monkeypatch, plain=True)
    trusted_push(monkeypatch)
    capsys.readouterr()
    result = gopipe_run(hello_repo, "build")
    out = capsys.readouterr().out
    assert result.exit_code == 0 and result.stage("build")["status"] == "success"
    assert "remote cache unavailable" in out


def test_cd_restores_the_build_ci_made_and_packages_it(
    hello_repo: Path,
    registry: Registry,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ci job builds and writes; the cd job of the same commit, on a new runner, restores
    the build and packages it; the archive digests match a local build-and-package."""
    one_target(hello_repo)
    config = hello_repo / "pyproject.toml"
    config.write_text(
        config.read_text().replace('providers = ["oci-image", "archive"]', 'providers = ["archive"]')
    )
    local = gopipe_run(hello_repo, "package", "--no-cache")  # the reference, no remote involved
    assert local.exit_code == 0
    archives = sorted((a["name"], a["sha256"]) for a in local.report["artifacts"] if a["kind"] == "archive")
    assert archives

    fresh_runner(hello_repo)
    use_remote_cache(hello_repo, registry, monkeypatch)
    trusted_push(monkeypatch)
    ci = gopipe_run(hello_repo, "ci")
    assert ci.exit_code == 0 and ci.stage("build")["cached"] is False

    fresh_runner(hello_repo)
    cd = gopipe_run(hello_repo, "package")
    assert cd.exit_code == 0
    assert cd.stage("build")["cached"] is True, "cd must restore ci's build, not rebuild"
    assert cd.stage("build")["inputs"] == ci.stage("build")["inputs"]
    assert binary_of(cd)["sha256"] == binary_of(ci)["sha256"] == binary_of(local)["sha256"]
    got = sorted((a["name"], a["sha256"]) for a in cd.report["artifacts"] if a["kind"] == "archive")
    assert got == archives


def test_a_fresh_runner_prefetches_the_go_cache_from_the_stage_index(
    hello_repo: Path,
    registry: Registry,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The trusted run writes one index of the build's Go actions; a fresh runner after a
    one-file change loads it once and gets Go's entries from disk or one direct download
    each, instead of a manifest and a blob round trip per entry."""
    one_target(hello_repo)
    repository = use_remote_cache(hello_repo, registry, monkeypatch, go_build_cache=True)
    trusted_push(monkeypatch)
    monkeypatch.setenv("GOPIPE_GOCACHEPROG_DIR", str(tmp_path / "runner1"))
    first = gopipe_run(hello_repo, "build")
    assert first.exit_code == 0
    with client_for(registry) as client:
        indexes = [t for t in client.list_tags(repository) if t.startswith("go-index-build-")]
    assert len(indexes) == 1, "one index for the build stage"
    assert events(hello_repo, "remote_cache_finished")[-1]["index_stored"] == 1

    greet = hello_repo / "internal/greet/greet.go"
    greet.write_text(greet.read_text() + "\nconst Edited = true\n")
    fresh_runner(hello_repo)
    monkeypatch.setenv("GITHUB_REF", "refs/heads/feature")  # a read-only run
    monkeypatch.setenv("GOPIPE_GOCACHEPROG_DIR", str(tmp_path / "runner2"))
    stats_file = tmp_path / "stats.jsonl"
    monkeypatch.setenv("GOPIPE_GOCACHEPROG_STATS", str(stats_file))
    second = gopipe_run(hello_repo, "build")
    assert second.exit_code == 0 and second.stage("build")["cached"] is False
    finished = events(hello_repo, "remote_cache_finished")[-1]
    assert finished["indexed"] > 100 and finished["prefetched"] > 0, finished
    assert finished["prefetch_failed"] == 0 and finished["index_stored"] == 0
    totals: dict[str, int] = {}
    for line in stats_file.read_text().splitlines():
        for key, value in json.loads(line).items():
            totals[key] = totals.get(key, 0) + value
    from_index = totals["hit"] + totals["index_hit"]
    assert from_index > 100 and totals["remote_hit"] <= from_index // 10, totals
    binary = hello_repo / binary_of(second)["path"]
    assert sha256_of(binary) == binary_of(second)["sha256"]
