"""The remote cache in an S3 bucket, against moto's S3 server over real HTTP.

moto runs as its own process (``tests/harness/moto_server.py``) and boto3 talks HTTP to it
through ``endpoint_url``, as to MinIO; only fake credentials from the environment are used.
Each test plays CI runners as the OCI tests do: a run writes, ``dist/`` is emptied (a new
runner), and the next run must restore, reject what does not match, or carry on without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.core.remote_cache_helpers import (
    binary_of,
    events,
    fresh_runner,
    one_target,
    s3_keys,
    sha256_of,
    trusted_push,
    use_s3_cache,
)
from tests.harness.faulty_proxy import start_faulty_proxy
from tests.harness.moto_server import Moto
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
from gopipe.testing import RunResult

pytestmark = pytest.mark.slow  # real Go builds and a real (moto) S3 server


def test_s3_hit_restores_the_build_and_a_change_misses(
    hello_repo: Path,
    moto: Moto,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one_target(hello_repo)
    bucket, prefix = use_s3_cache(hello_repo, moto, monkeypatch)
    trusted_push(monkeypatch)
    first = gopipe_run(hello_repo, "build")
    assert first.exit_code == 0 and first.stage("build")["cached"] is False
    assert len(s3_keys(moto, bucket, prefix, "refs/stage-build-")) == 1
    built = binary_of(first)
    assert f"{prefix}/blobs/sha256/{built['sha256']}" in s3_keys(moto, bucket, prefix, "blobs/")

    fresh_runner(hello_repo)
    second = gopipe_run(hello_repo, "build")
    assert second.exit_code == 0 and second.stage("build")["cached"] is True
    restored = binary_of(second)
    assert restored["sha256"] == built["sha256"] == sha256_of(hello_repo / restored["path"])
    assert (hello_repo / restored["path"]).stat().st_mode & 0o111, "the binary must stay executable"
    assert events(hello_repo, "remote_cache_finished")[-1]["hits"] == 1

    greet = hello_repo / "internal/greet/greet.go"
    greet.write_text(greet.read_text() + "\nconst Edited = true\n")
    fresh_runner(hello_repo)
    third = gopipe_run(hello_repo, "build")
    assert third.exit_code == 0 and third.stage("build")["cached"] is False
    assert events(hello_repo, "remote_cache_finished")[-1]["misses"] == 1
    assert len(s3_keys(moto, bucket, prefix, "refs/stage-build-")) == 2

    fresh_runner(hello_repo)
    forced = gopipe_run(hello_repo, "build", "--no-cache")
    assert forced.stage("build")["cached"] is False
    assert events(hello_repo, "remote_cache") == []  # --no-cache does not even connect


def test_s3_a_poisoned_object_is_rejected_and_the_stage_runs(
    hello_repo: Path,
    moto: Moto,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    one_target(hello_repo)
    bucket, prefix = use_s3_cache(hello_repo, moto, monkeypatch)
    trusted_push(monkeypatch)
    sha = binary_of(gopipe_run(hello_repo, "build"))["sha256"]
    # someone with write access to the bucket swaps the binary's bytes under its digest key
    moto.client("s3").put_object(Bucket=bucket, Key=f"{prefix}/blobs/sha256/{sha}", Body=b"POISONED" * 4096)
    fresh_runner(hello_repo)
    capsys.readouterr()
    second = gopipe_run(hello_repo, "build")
    out = capsys.readouterr().out
    assert second.exit_code == 0
    assert second.stage("build")["cached"] is False, "an object that fails its digest must not be used"
    assert "rejected" in out and "does not match" in out
    binary = hello_repo / binary_of(second)["path"]
    assert sha256_of(binary) == sha and b"POISONED" not in binary.read_bytes()
    assert events(hello_repo, "remote_cache_finished")[-1]["rejected"] == 1


def test_s3_a_pull_request_run_reads_but_never_writes(
    hello_repo: Path,
    moto: Moto,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one_target(hello_repo)
    bucket, prefix = use_s3_cache(
        hello_repo, moto, monkeypatch, extra='write = "always"\n', go_build_cache=True
    )
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request")
    monkeypatch.setenv("GITHUB_REF", "refs/pull/7/merge")
    monkeypatch.setenv("GOPIPE_GOCACHEPROG_DIR", str(hello_repo.parent / "gocacheprog-pr"))
    result = gopipe_run(hello_repo, "build")
    assert result.exit_code == 0
    assert s3_keys(moto, bucket, prefix, "") == [], "neither stage entries nor Go cache entries"
    decision = events(hello_repo, "remote_cache")[-1]
    assert decision["writes"] is False and "pull_request" in str(decision["why"])


def test_s3_the_store_going_down_mid_run_only_costs_speed(
    hello_repo: Path,
    moto: Moto,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A proxy in front of moto lets the lookups through and drops every write."""
    backend = Registry(moto.endpoint_url.removeprefix("http://"), None, None, None, hello_repo)
    with start_faulty_proxy(backend) as proxy:
        one_target(hello_repo)
        use_s3_cache(hello_repo, moto, monkeypatch, endpoint=proxy.url)
        trusted_push(monkeypatch)
        proxy.drop(method="PUT", times=None)
        proxy.drop(method="HEAD", times=None)
        capsys.readouterr()
        result = gopipe_run(hello_repo, "ci")
        out = capsys.readouterr().out
        assert proxy.count("GET") >= 1, "the run must have read the cache first"
    assert result.exit_code == 0, out[-3000:]
    assert all(s["status"] == "success" for s in result.report["stages"])
    assert "remote cache unavailable, continuing without it (only speed is lost)" in out
    assert out.count("remote cache unavailable") == 1, "one line, not one per stage"
    assert events(hello_repo, "remote_cache_finished")[-1]["down"]
    assert "testing" not in out.replace("testing.go", ""), "no credential in the log"


def test_s3_cd_restores_the_build_ci_made_and_packages_it(
    hello_repo: Path,
    moto: Moto,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one_target(hello_repo)
    config = hello_repo / "pyproject.toml"
    config.write_text(
        config.read_text().replace('providers = ["oci-image", "archive"]', 'providers = ["archive"]')
    )
    local = gopipe_run(hello_repo, "package", "--no-cache")
    archives = sorted((a["name"], a["sha256"]) for a in local.report["artifacts"] if a["kind"] == "archive")
    assert local.exit_code == 0 and archives

    fresh_runner(hello_repo)
    use_s3_cache(hello_repo, moto, monkeypatch)
    trusted_push(monkeypatch)
    ci = gopipe_run(hello_repo, "ci")
    assert ci.exit_code == 0 and ci.stage("build")["cached"] is False

    fresh_runner(hello_repo)
    cd = gopipe_run(hello_repo, "package")
    assert cd.exit_code == 0
    assert cd.stage("build")["cached"] is True, "cd must restore ci's build, not rebuild"
    assert binary_of(cd)["sha256"] == binary_of(ci)["sha256"] == binary_of(local)["sha256"]
    got = sorted((a["name"], a["sha256"]) for a in cd.report["artifacts"] if a["kind"] == "archive")
    assert got == archives


def test_s3_prune_keeps_the_newest_and_drops_the_rest(
    tmp_path: Path, moto: Moto, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "pyproject.toml").write_text("[tool.gopipe]\n")
    bucket, prefix = use_s3_cache(repo, moto, monkeypatch, extra="retention = { max_entries = 2 }\n")
    opts = load_cache_options(load_config(repo))
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
    for i in range(3):
        store.store(Stage.LINT, CachedStage(f"{i:064x}", f"entry {i}", [], []), lambda o: o)
        time.sleep(1.1)  # the creation annotation has whole seconds
    assert store.down is None
    store.close()
    before = s3_keys(moto, bucket, prefix, "refs/stage-")
    assert len(before) == 3
    # an object under the prefix that is not an entry is left alone
    moto.client("s3").put_object(Bucket=bucket, Key=f"{prefix}/refs/../notes.txt", Body=b"x")

    assert main(["cache", "prune", "--dry-run", "-C", str(repo)]) == 0
    assert "would delete 1" in capsys.readouterr().out
    assert s3_keys(moto, bucket, prefix, "refs/stage-") == before
    assert main(["cache", "prune", "-C", str(repo)]) == 0
    assert "deleted 1" in capsys.readouterr().out
    assert len(s3_keys(moto, bucket, prefix, "refs/stage-")) == 2
    assert not any(k.endswith(f"stage-lint-{0:064x}") for k in s3_keys(moto, bucket, prefix, "refs/")), (
        "the oldest entry goes"
    )
    assert f"{prefix}/refs/../notes.txt" in s3_keys(moto, bucket, prefix, "refs/")

    blobs = s3_keys(moto, bucket, prefix, "blobs/")
    assert len(blobs) == 3, "the pruned entry's blob is younger than the grace period: kept"
    moto.client("s3").put_object(Bucket=bucket, Key=f"{prefix}/blobs/sha256/README", Body=b"not ours")
    result = prune(repo, now=time.time() + 31 * 86400, say=lambda s: None)  # a month later
    assert len(result.deleted) == 2 and s3_keys(moto, bucket, prefix, "refs/stage-") == []
    assert result.blobs_deleted == 3, "no entry is left, so no blob is needed"
    assert s3_keys(moto, bucket, prefix, "blobs/") == [f"{prefix}/blobs/sha256/README"]


GO_MAIN = 'package main\n\nimport "strconv"\n\nfunc main() { println(strconv.Itoa(42)) }\n'


def test_s3_backs_the_go_build_cache_of_a_fresh_runner(tmp_path: Path, moto: Moto) -> None:
    """The real ``go`` command with GOCACHEPROG on an S3 bucket: a second runner gets every
    entry it asks for from the bucket, digest-checked, and writes nothing when read-only."""
    bucket = f"gocache-{uuid.uuid4().hex[:10]}"
    moto.client("s3").create_bucket(Bucket=bucket)
    module = tmp_path / "mod"
    module.mkdir()
    (module / "go.mod").write_text("module example.com/gcp\n\ngo 1.24\n")
    (module / "main.go").write_text(GO_MAIN)
    settings = tmp_path / "connection.json"
    settings.write_text(Connection(bucket, "go", scheme="s3", endpoint_url=moto.endpoint_url).to_json())
    aws = {k: v for k, v in moto.env().items() if k != "AWS_ENDPOINT_URL"}

    def build(runner: str, *, writes: bool) -> dict[str, int]:
        stats = tmp_path / f"{runner}.stats"
        env = {
            **os.environ,
            **aws,
            "GOCACHEPROG": f"{sys.executable} -m gopipe.remote_cache.gocacheprog",
            "GOPIPE_CACHE_CONNECTION": str(settings),
            "GOPIPE_CACHE_WRITES": "1" if writes else "0",
            "GOPIPE_GOCACHEPROG_DIR": str(tmp_path / runner),
            "GOPIPE_GOCACHEPROG_STATS": str(stats),
        }
        subprocess.run(["go", "build", "-o", "out", "."], cwd=module, env=env, check=True, timeout=900)
        totals: dict[str, int] = {}
        for line in stats.read_text().splitlines():
            for key, value in json.loads(line).items():
                totals[key] = totals.get(key, 0) + value
        return totals

    first = build("runner1", writes=True)
    assert first["put"] > 0 and first["remote_hit"] == 0
    stored = s3_keys(moto, bucket, "go", "refs/go-")
    assert len(stored) >= first["put"] // 2
    second = build("runner2", writes=False)
    assert second["miss"] == 0 and second["remote_hit"] > 0, second
    assert s3_keys(moto, bucket, "go", "refs/go-") == stored
