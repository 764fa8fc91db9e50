"""Hostile remote-cache input: credentials in the URL, plain HTTP off loopback, entries that
try to write outside ``dist/``, and manifests or blobs larger than the limits.

The config cases run gopipe as a user would (no registry needed: they must be refused
before any connection). The entry cases push hand-made entries to a real local registry and
look them up with the store the runner uses.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from tests.harness.registry import Registry
from tests.hostile.conftest import Sandbox

from gopipe.cache import CachedStage
from gopipe.remote_cache.connection import EMPTY_DIGEST, MEDIA_EMPTY, MEDIA_MANIFEST, Connection
from gopipe.remote_cache.options import CacheOptions
from gopipe.remote_cache.stages import (
    ARTIFACT_TYPE,
    FINGERPRINT,
    MEDIA_ENTRY,
    MEDIA_FILE,
    STAGE,
    RemoteStageCache,
    stage_tag,
)
from gopipe.remote_cache.trust import WriteDecision
from gopipe.stages import Stage
from gopipe_oci import RegistryClient

PASSWORD = "cache-pw-7f3a9d2e41"


@pytest.mark.parametrize(
    "remote",
    [
        f"oci://ci:{PASSWORD}@127.0.0.1:5000/cache",
        f"oci://{PASSWORD}@127.0.0.1:5000/cache",
        f"oci+http://ci:{PASSWORD}@localhost/cache",
    ],
)
def test_credentials_in_the_remote_url_are_refused_unseen(sandbox: Sandbox, remote: str) -> None:
    sandbox.config(f'targets = ["linux/amd64"]\n\n[tool.gopipe.cache]\nremote = "{remote}"\n')
    outcome = sandbox.run("run", "build")
    sandbox.check(outcome, code=2, secrets=[PASSWORD], says="credentials in the remote URL are refused")
    check = sandbox.run("check")
    sandbox.check(check, code=2, report=False, secrets=[PASSWORD])


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('remote = "oci+http://10.0.0.7:5000/cache"', "plain HTTP is only allowed for loopback"),
        ('remote = "oci+http://cache.internal/cache"', "plain HTTP is only allowed for loopback"),
        ('remote = "oci://10.0.0.7:5000/cache"\ninsecure = true', "only allowed for loopback"),
        ('remote = "https://127.0.0.1:5000/cache"', "is not an OCI or S3 remote"),
        ('remote = "oci://127.0.0.1:5000"', "names no repository"),
        ('remote = "oci://127.0.0.1:5000/c"\nwrite = "sometimes"', "tool.gopipe.cache.write"),
        ('remote = "oci://127.0.0.1:5000/c"\npassword = "plaintext-secret-1"', "tool.gopipe.cache.password"),
    ],
)
def test_bad_remotes_are_config_errors(sandbox: Sandbox, table: str, says: str) -> None:
    sandbox.config(f'targets = ["linux/amd64"]\n\n[tool.gopipe.cache]\n{table}\n')
    outcome = sandbox.run("run", "build")
    sandbox.check(outcome, code=2, says=says, secrets=["plaintext-secret-1"])


# -- hand-made entries on a real registry -------------------------------------------------
def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _push_entry(
    registry: Registry,
    repo: str,
    key: str,
    artifacts: list[dict[str, object]],
    files: list[bytes],
    *,
    padding: int = 0,
    sizes: list[int] | None = None,
) -> None:
    client = RegistryClient(registry.host, use_docker_config=False, plain_http=True)
    with client:
        client.upload_blob(repo, EMPTY_DIGEST, b"{}")
        entry = json.dumps(
            {"fingerprint": key, "summary": "", "artifacts": artifacts, "findings": []}
        ).encode()
        client.upload_blob(repo, f"sha256:{_sha(entry)}", entry)
        layers: list[dict[str, object]] = [
            {"mediaType": MEDIA_ENTRY, "digest": f"sha256:{_sha(entry)}", "size": len(entry)}
        ]
        for i, data in enumerate(files):
            client.upload_blob(repo, f"sha256:{_sha(data)}", data)
            size = sizes[i] if sizes else len(data)
            layers.append({"mediaType": MEDIA_FILE, "digest": f"sha256:{_sha(data)}", "size": size})
        notes = {STAGE: "build", FINGERPRINT: key}
        if padding:
            notes["padding"] = "x" * padding
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": MEDIA_EMPTY, "digest": EMPTY_DIGEST, "size": 2},
            "layers": layers,
            "annotations": notes,
        }
        client.put_manifest(repo, stage_tag(Stage.BUILD, key), json.dumps(manifest).encode(), MEDIA_MANIFEST)


def _store(registry: Registry, repo: str, root: Path, said: list[str], **opts: int) -> RemoteStageCache:
    return RemoteStageCache(
        Connection(registry.host, repo, plain_http=True),
        CacheOptions(remote=f"oci+http://{registry.host}/{repo}", **opts),  # type: ignore[arg-type]
        root=root,
        dist=root / "dist",
        env=dict(os.environ),
        redact=lambda s: s,
        say=said.append,
        writes=WriteDecision(False, "test"),
    )


def _artifact(path: str, data: bytes) -> dict[str, object]:
    return {"kind": "binary", "name": "x", "path": path, "sha256": _sha(data), "stage": "build"}


@pytest.mark.slow
@pytest.mark.parametrize("path", ["../outside.txt", "/tmp/gopipe-escape.txt", "dist/../../x.txt", "src/x.go"])
def test_restored_paths_stay_in_dist(tmp_path: Path, plain_registry: Registry, path: str) -> None:
    root = tmp_path / "repo"
    (root / "dist").mkdir(parents=True)
    data = b"escaped\n"
    key = _sha(path.encode())
    _push_entry(plain_registry, "hostile-paths", key, [_artifact(path, data)], [data])
    said: list[str] = []
    assert _store(plain_registry, "hostile-paths", root, said).lookup(Stage.BUILD, key) is None
    assert any("rejected" in s for s in said), said
    assert not Path("/tmp/gopipe-escape.txt").exists()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.slow
def test_a_symlink_in_dist_does_not_lead_a_restore_out(tmp_path: Path, plain_registry: Registry) -> None:
    root = tmp_path / "repo"
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "dist").mkdir(parents=True)
    (root / "dist" / "link").symlink_to(outside, target_is_directory=True)
    data = b"through a symlink\n"
    key = _sha(b"symlink")
    _push_entry(plain_registry, "hostile-links", key, [_artifact("dist/link/file", data)], [data])
    said: list[str] = []
    assert _store(plain_registry, "hostile-links", root, said).lookup(Stage.BUILD, key) is None
    assert list(outside.iterdir()) == []
    assert any("leaves dist" in s for s in said), said


@pytest.mark.slow
def test_a_symlinked_file_is_replaced_not_written_through(tmp_path: Path, plain_registry: Registry) -> None:
    root = tmp_path / "repo"
    (root / "dist").mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (root / "dist" / "bin").symlink_to(victim)
    data = b"the real binary\n"
    key = _sha(b"file-link")
    _push_entry(plain_registry, "hostile-links", key, [_artifact("dist/bin", data)], [data])
    hit = _store(plain_registry, "hostile-links", root, []).lookup(Stage.BUILD, key)
    assert isinstance(hit, CachedStage)
    assert victim.read_text() == "keep me\n"
    assert not (root / "dist" / "bin").is_symlink() and (root / "dist" / "bin").read_bytes() == data


@pytest.mark.slow
def test_oversized_manifests_and_blobs_are_refused(tmp_path: Path, plain_registry: Registry) -> None:
    root = tmp_path / "repo"
    (root / "dist").mkdir(parents=True)
    data = b"x" * 4096
    said: list[str] = []
    big_manifest = _sha(b"big-manifest")
    _push_entry(plain_registry, "hostile-size", big_manifest, [], [], padding=2 << 20)
    assert _store(plain_registry, "hostile-size", root, said).lookup(Stage.BUILD, big_manifest) is None
    assert said and "limit" in said[-1]

    big_blob = _sha(b"big-blob")
    _push_entry(plain_registry, "hostile-size", big_blob, [_artifact("dist/big", data)], [data])
    store = _store(plain_registry, "hostile-size", root, said, max_entry_bytes=1024)
    assert store.lookup(Stage.BUILD, big_blob) is None
    assert "max_entry_bytes" in said[-1]

    lying = _sha(b"lying-size")  # the manifest says 16 bytes, the blob has 4096
    _push_entry(plain_registry, "hostile-size", lying, [_artifact("dist/lie", data)], [data], sizes=[16])
    assert _store(plain_registry, "hostile-size", root, said).lookup(Stage.BUILD, lying) is None
    assert not (root / "dist" / "lie").exists()
    assert [p.name for p in (root / "dist").iterdir()] == []
