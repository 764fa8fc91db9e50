"""Hostile input for ``s3://`` remote caches: bucket names, prefixes, endpoint URLs, entries
that try to leave ``dist/`` or lie about sizes, and AWS credentials that must never show.

The config cases run gopipe as a user would and must be refused before any connection. The
entry cases write hand-made objects to moto's S3 server (a separate process, real HTTP) and
look them up with the stores the runner and the Go cache program use.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
from pathlib import Path

import pytest
from tests.harness import procs
from tests.harness.moto_server import Moto
from tests.hostile.conftest import Sandbox

from gopipe.cache import CachedStage
from gopipe.remote_cache.connection import EMPTY_DIGEST, MEDIA_EMPTY, MEDIA_MANIFEST, ClientPool, Connection
from gopipe.remote_cache.go_index import ARTIFACT_TYPE as ARTIFACT_TYPE_INDEX
from gopipe.remote_cache.go_index import GoIndex, index_tag
from gopipe.remote_cache.gocacheprog import OUTPUT, LocalStore, Remote
from gopipe.remote_cache.options import CacheOptions
from gopipe.remote_cache.s3store import S3Store
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
from gopipe_oci import TooLargeError

SECRET = "aws-secret-9c1e55d0b7f24a63"
TARGETS = 'targets = ["linux/amd64"]\n\n[tool.gopipe.cache]\n'


@pytest.mark.parametrize(
    "bucket",
    ["UPPER", "ab", "-lead", "trail-", "a..b", "192.168.0.1", "under_score", "x" * 64, "bkt:9000", "b%2e"],
)
def test_bad_bucket_names_are_config_errors(sandbox: Sandbox, bucket: str) -> None:
    sandbox.config(f'{TARGETS}remote = "s3://{bucket}/cache"\n')
    outcome = sandbox.run("run", "build")
    sandbox.check(outcome, code=2, says="tool.gopipe.cache.remote")


@pytest.mark.parametrize(
    "prefix",
    ["../escape", "a/../../b", "a/..", "a//b", "./a", "a b", "%2e%2e/x", "a\\\\..\\\\b", "-/x", "a/~x"],
)
def test_prefixes_with_traversal_are_config_errors(sandbox: Sandbox, prefix: str) -> None:
    sandbox.config(f'{TARGETS}remote = "s3://team-cache/{prefix}"\n')
    outcome = sandbox.run("run", "build")
    sandbox.check(outcome, code=2, says="is not plain path segments")


@pytest.mark.parametrize(
    ("endpoint", "says"),
    [
        ("file:///etc/passwd", "is not an http(s) URL"),
        ("ftp://minio.internal", "is not an http(s) URL"),
        ("javascript:alert(1)", "is not an http(s) URL"),
        ("gopher://127.0.0.1:70", "is not an http(s) URL"),
        ("minio.internal:9000", "is not an http(s) URL"),
        ("http://10.0.0.7:9000", "plain HTTP is only allowed for loopback"),
        ("https://minio.internal:9000/bucket", "bare http(s)://host[:port]"),
        ("https://minio.internal:9000?x=1", "bare http(s)://host[:port]"),
        ("https://minio.internal:99999", "not a URL"),
        (f"https://AKIA:{SECRET}@minio.internal", "credentials in endpoint_url are refused"),
    ],
)
def test_bad_endpoint_urls_are_config_errors(sandbox: Sandbox, endpoint: str, says: str) -> None:
    sandbox.config(f'{TARGETS}remote = "s3://team-cache/ci"\nendpoint_url = "{endpoint}"\n')
    outcome = sandbox.run("run", "build")
    sandbox.check(outcome, code=2, says=says, secrets=[SECRET])


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('username = "ci"', "take credentials from the standard AWS environment"),
        (
            'password = { env = "AWS_SECRET_ACCESS_KEY" }',
            "take credentials from the standard AWS environment",
        ),
        ('region = "../../x"', "is not an AWS region"),
        ("insecure = true", "only allowed for a loopback endpoint_url"),
    ],
)
def test_s3_only_takes_aws_credentials(sandbox: Sandbox, table: str, says: str) -> None:
    sandbox.config(f'{TARGETS}remote = "s3://team-cache/ci"\n{table}\n')
    outcome = sandbox.run("run", "build", env={"AWS_SECRET_ACCESS_KEY": SECRET})
    sandbox.check(outcome, code=2, says=says, secrets=[SECRET])


def test_an_endpoint_url_on_an_oci_remote_is_a_config_error(sandbox: Sandbox) -> None:
    sandbox.config(f'{TARGETS}remote = "oci://127.0.0.1:5000/c"\nendpoint_url = "https://127.0.0.1:9000"\n')
    sandbox.check(sandbox.run("run", "build"), code=2, says="only s3:// remotes take an endpoint_url")


@pytest.mark.slow
def test_aws_credentials_are_never_printed_when_the_store_is_down(sandbox: Sandbox) -> None:
    """A dead endpoint: the run succeeds, says the cache is off once, and no key shows anywhere."""
    dead = f"http://127.0.0.1:{procs.free_port()}"
    sandbox.config(f'{TARGETS}remote = "s3://team-cache/ci"\nendpoint_url = "{dead}"\nwrite = "always"\n')
    env = {
        "AWS_ACCESS_KEY_ID": "AKIAHOSTILE0000KEYID",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": SECRET + "-token",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
        "GITHUB_EVENT_NAME": "push",
        "GOPIPE_GOCACHEPROG_DIR": str(sandbox.repo / "dist" / "gocacheprog"),
    }
    outcome = sandbox.run("run", "build", env=env)
    sandbox.check(outcome, code=0, secrets=[SECRET, SECRET + "-token"])
    assert "remote cache unavailable" in outcome.output


# -- hand-made objects on moto's S3 server ---------------------------------------------------
def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _bucket(moto: Moto) -> str:
    name = f"hostile-{uuid.uuid4().hex[:12]}"
    moto.client("s3").create_bucket(Bucket=name)
    return name


def _put(moto: Moto, bucket: str, key: str, body: bytes) -> None:
    moto.client("s3").put_object(Bucket=bucket, Key=f"cache/{key}", Body=body)


def _entry(
    moto: Moto,
    bucket: str,
    key: str,
    artifacts: list[dict[str, object]],
    files: list[bytes],
    sizes: list[object] | None = None,
) -> None:
    entry = json.dumps({"fingerprint": key, "summary": "", "artifacts": artifacts, "findings": []}).encode()
    _put(moto, bucket, f"blobs/sha256/{_sha(entry)}", entry)
    layers: list[dict[str, object]] = [
        {"mediaType": MEDIA_ENTRY, "digest": f"sha256:{_sha(entry)}", "size": len(entry)}
    ]
    for i, data in enumerate(files):
        _put(moto, bucket, f"blobs/sha256/{_sha(data)}", data)
        size = sizes[i] if sizes else len(data)
        layers.append({"mediaType": MEDIA_FILE, "digest": f"sha256:{_sha(data)}", "size": size})
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": MEDIA_EMPTY, "digest": EMPTY_DIGEST, "size": 2},
        "layers": layers,
        "annotations": {STAGE: "build", FINGERPRINT: key},
    }
    _put(moto, bucket, f"refs/{stage_tag(Stage.BUILD, key)}", json.dumps(manifest).encode())


def _env(moto: Moto) -> dict[str, str]:
    return {**os.environ, **{k: v for k, v in moto.env().items() if k != "AWS_ENDPOINT_URL"}}


def _connection(moto: Moto, bucket: str) -> Connection:
    return Connection(bucket, "cache", scheme="s3", endpoint_url=moto.endpoint_url)


def _stage_store(moto: Moto, bucket: str, root: Path, said: list[str], **opts: int) -> RemoteStageCache:
    return RemoteStageCache(
        _connection(moto, bucket),
        CacheOptions(remote=f"s3://{bucket}/cache", **opts),  # type: ignore[arg-type]
        root=root,
        dist=root / "dist",
        env=_env(moto),
        redact=lambda s: s,
        say=said.append,
        writes=WriteDecision(False, "test"),
    )


def _artifact(path: str, data: bytes) -> dict[str, object]:
    return {"kind": "binary", "name": "x", "path": path, "sha256": _sha(data), "stage": "build"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "path", ["../outside.txt", "/tmp/gopipe-s3-escape.txt", "dist/../../x.txt", "src/x.go"]
)
def test_s3_keys_with_traversal_in_a_stored_entry_stay_out(tmp_path: Path, moto: Moto, path: str) -> None:
    root = tmp_path / "repo"
    (root / "dist").mkdir(parents=True)
    bucket = _bucket(moto)
    data = b"escaped\n"
    key = _sha(path.encode())
    _entry(moto, bucket, key, [_artifact(path, data)], [data])
    said: list[str] = []
    assert _stage_store(moto, bucket, root, said).lookup(Stage.BUILD, key) is None
    assert said and "rejected" in said[-1]
    assert not (tmp_path / "outside.txt").exists() and not Path("/tmp/gopipe-s3-escape.txt").exists()
    assert not (root / "src").exists() and list((root / "dist").iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("size", [-1, 16, 10**30, "4096", None, 1.5])
def test_s3_huge_negative_and_lying_sizes_are_rejected(tmp_path: Path, moto: Moto, size: object) -> None:
    root = tmp_path / "repo"
    (root / "dist").mkdir(parents=True)
    bucket = _bucket(moto)
    data = b"x" * 4096
    key = _sha(repr(size).encode())
    _entry(moto, bucket, key, [_artifact("dist/f", data)], [data], sizes=[size])
    said: list[str] = []
    store = _stage_store(moto, bucket, root, said)
    assert store.lookup(Stage.BUILD, key) is None
    assert store.down is None and said and "rejected" in said[-1], said
    assert list((root / "dist").iterdir()) == []


@pytest.mark.slow
def test_s3_oversized_refs_and_blobs_are_refused_before_reading(tmp_path: Path, moto: Moto) -> None:
    bucket = _bucket(moto)
    store = S3Store.from_settings(
        {"host": bucket, "repository": "cache", "endpoint_url": moto.endpoint_url}, _env(moto), lambda s: s
    )
    _put(moto, bucket, "refs/stage-build-big", b"{" + b" " * (2 << 20) + b"}")
    with pytest.raises(TooLargeError):
        store.get_ref("stage-build-big", max_bytes=1 << 20)
    blob = b"y" * 8192
    _put(moto, bucket, f"blobs/sha256/{_sha(blob)}", blob)
    dest = tmp_path / "out"
    with pytest.raises(TooLargeError):
        store.download_blob(f"sha256:{_sha(blob)}", dest, max_bytes=100)
    assert not dest.exists() and list(tmp_path.iterdir()) == []
    for bad in ("../../etc/passwd", "refs/../x", "", "a/b"):
        with pytest.raises(ValueError):
            store.get_ref(bad, max_bytes=100)
    for digest in ("sha256:../../x", "sha256:" + "A" * 64, "md5:" + "0" * 32):
        with pytest.raises(ValueError):
            store.get_blob(digest, max_bytes=100)


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", ["traversal-output", "negative-size", "huge-size", "wrong-content", "two-layers", "not-json"]
)
def test_s3_hostile_go_cache_entries_are_misses(tmp_path: Path, moto: Moto, case: str) -> None:
    """The Go cache program treats every bad ``go-<action>`` entry as a miss, and stays on."""
    bucket = _bucket(moto)
    action = _sha(case.encode())
    body = b"go output"
    output = _sha(body)
    size: object = len(body)
    digest = f"sha256:{output}"
    layers: list[dict[str, object]] = [{"mediaType": MEDIA_FILE, "digest": digest, "size": size}]
    notes: dict[str, str] = {OUTPUT: output}
    _put(moto, bucket, f"blobs/sha256/{output}", b"not the output" if case == "wrong-content" else body)
    if case == "traversal-output":
        notes[OUTPUT] = "../../../../tmp/gopipe-go-escape"
        layers[0]["digest"] = f"sha256:{notes[OUTPUT]}"
    elif case == "negative-size":
        layers[0]["size"] = -5
    elif case == "huge-size":
        layers[0]["size"] = 10**40
    elif case == "two-layers":
        layers.append(dict(layers[0]))
    manifest = {"schemaVersion": 2, "layers": layers, "annotations": notes}
    _put(
        moto,
        bucket,
        f"refs/go-{action}",
        b"{not json" if case == "not-json" else json.dumps(manifest).encode(),
    )
    log = io.StringIO()
    settings = {"scheme": "s3", "host": bucket, "repository": "cache", "endpoint_url": moto.endpoint_url}
    remote = Remote(settings, _env(moto), log)
    local = LocalStore(tmp_path / "gocache")
    assert remote.fetch(action, local) is None
    assert not Path("/tmp/gopipe-go-escape").exists()
    assert list((tmp_path / "gocache" / "o").iterdir()) == []
    assert not remote.down, log.getvalue()
    # a good entry in the same bucket still hits: the store was not turned off by the bad one
    good = _sha(b"good")
    manifest = {"layers": [{"digest": digest, "size": len(body)}], "annotations": {OUTPUT: output}}
    _put(moto, bucket, f"refs/go-{good}", json.dumps(manifest).encode())
    _put(moto, bucket, f"blobs/sha256/{output}", body)
    found = remote.fetch(good, local)
    assert found is not None and found[:2] == (output, len(body))
    assert local.output_path(output).read_bytes() == body
    remote.close()


@pytest.mark.slow
def test_s3_credentials_are_not_in_what_the_go_cache_program_reads(tmp_path: Path, moto: Moto) -> None:
    """The settings file handed to GOCACHEPROG names the bucket, never a key."""
    bucket = _bucket(moto)
    env = {**_env(moto), "AWS_SECRET_ACCESS_KEY": SECRET}
    conn = _connection(moto, bucket)
    assert SECRET not in conn.to_json()
    store = conn.store(env, lambda s: s)
    store.put_blob(f"sha256:{_sha(b'k')}", b"k")  # the key from env works (moto accepts any)
    assert store.has_blob(f"sha256:{_sha(b'k')}")
    store.close()
    said: list[str] = []
    cache = _stage_store(moto, bucket, tmp_path, said)
    cache.store(Stage.LINT, CachedStage("0" * 64, "", [], []), lambda o: o)  # read-only: no write
    assert cache.stats["stored"] == 0


@pytest.mark.slow
def test_a_hostile_go_cache_index_only_costs_misses(tmp_path: Path, moto: Moto) -> None:
    """Index entries that are malformed are dropped; one whose output does not hash to its ID
    is never prefetched nor used by the cache program; the good ones still are."""
    bucket = _bucket(moto)
    good_body, bad_body = b"good output", b"claims another digest"
    good, liar = _sha(good_body), _sha(b"what the index claims")
    _put(moto, bucket, f"blobs/sha256/{good}", good_body)
    _put(moto, bucket, f"blobs/sha256/{liar}", bad_body)  # stored under a digest it does not have
    a_good, a_liar = _sha(b"action good"), _sha(b"action liar")
    entries: list[object] = [
        [a_good, good, len(good_body)],
        [a_liar, liar, len(bad_body)],
        ["../../../tmp/gopipe-index-escape", good, 1],
        [_sha(b"neg"), good, -1],
        [_sha(b"huge"), good, 10**40],
        [_sha(b"bool"), good, True],
        "not an entry",
    ]
    body = json.dumps({"entries": entries}).encode()
    _put(moto, bucket, f"blobs/sha256/{_sha(body)}", body)
    manifest = {
        "artifactType": ARTIFACT_TYPE_INDEX,
        "layers": [{"mediaType": "x", "digest": f"sha256:{_sha(body)}", "size": len(body)}],
    }
    _put(moto, bucket, f"refs/{index_tag('build', 'test')}", json.dumps(manifest).encode())
    said: list[str] = []
    local_dir = tmp_path / "gocache"
    index = GoIndex(
        ClientPool(_connection(moto, bucket), _env(moto), lambda s: s),
        local_dir,
        index_file=tmp_path / "index.json",
        journal=tmp_path / "journal.jsonl",
        scope="test",
        writes=False,
        say=said.append,
    )
    assert index.stage_runs("build") == 2
    assert index.stage_runs("build") == 0, "loaded once per run"
    index.drain()
    index.close()
    local = LocalStore(local_dir)
    assert local.get(a_good) is not None and local.get(a_liar) is None
    assert index.stats["prefetched"] == 1 and index.stats["prefetch_failed"] == 1
    assert not local.output_path(liar).exists() and not Path("/tmp/gopipe-index-escape").exists()
    assert [e[0] for e in json.loads((tmp_path / "index.json").read_text())["entries"]] == [a_good, a_liar]
    remote = Remote(
        {"scheme": "s3", "host": bucket, "repository": "cache", "endpoint_url": moto.endpoint_url},
        _env(moto),
        io.StringIO(),
    )
    assert remote.fetch_indexed(a_liar, liar, len(bad_body), local) is None and not remote.down
    remote.close()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["lying-part", "part-past-the-end", "pack-wrong-digest"])
def test_a_hostile_go_cache_pack_only_costs_misses(tmp_path: Path, moto: Moto, case: str) -> None:
    """The pack (a stage's outputs in one blob) is split only into outputs that hash to their
    IDs; a malformed pack is not used at all, and its entries are fetched one by one."""
    bucket = _bucket(moto)
    one, two = b"first output", b"second output"
    o1, o2 = _sha(one), _sha(two)
    _put(moto, bucket, f"blobs/sha256/{o1}", one)
    _put(moto, bucket, f"blobs/sha256/{o2}", two)
    evil = b"EVIL-BYTES-OF-SAME-LENGTH"[: len(two)].ljust(len(two), b"!")
    pack = one + (evil if case == "lying-part" else two)
    parts: list[list[object]] = [[o1, 0, len(one)], [o2, len(one), len(two)]]
    if case == "part-past-the-end":
        parts.append([o2, len(pack) - 2, 10])
    _put(moto, bucket, f"blobs/sha256/{_sha(pack)}", pack)
    pack_digest = f"sha256:{_sha(pack)}" if case != "pack-wrong-digest" else f"sha256:{_sha(b'other')}"
    if case == "pack-wrong-digest":
        _put(moto, bucket, f"blobs/sha256/{_sha(b'other')}", pack)  # content is not its key
    a1, a2 = _sha(b"a1"), _sha(b"a2")
    index = json.dumps({"entries": [[a1, o1, len(one)], [a2, o2, len(two)]], "pack": parts}).encode()
    _put(moto, bucket, f"blobs/sha256/{_sha(index)}", index)
    manifest = {
        "artifactType": ARTIFACT_TYPE_INDEX,
        "layers": [
            {"digest": f"sha256:{_sha(index)}", "size": len(index)},
            {"digest": pack_digest, "size": len(pack)},
        ],
    }
    _put(moto, bucket, f"refs/{index_tag('build', 'test')}", json.dumps(manifest).encode())
    index_obj = GoIndex(
        ClientPool(_connection(moto, bucket), _env(moto), lambda s: s),
        tmp_path / "gocache",
        index_file=tmp_path / "index.json",
        journal=tmp_path / "journal.jsonl",
        scope="test",
        writes=False,
        say=[].append,
    )
    assert index_obj.stage_runs("build") == 2
    index_obj.drain()
    index_obj.close()
    local = LocalStore(tmp_path / "gocache")
    # whatever the pack says, every output that landed is the real one
    for output, body in ((o1, one), (o2, two)):
        if local.output_path(output).exists():
            assert local.output_path(output).read_bytes() == body
    assert local.get(a1) is not None, "the good output arrives, from the pack or on its own"
    assert b"EVIL" not in b"".join(
        p.read_bytes() for p in (tmp_path / "gocache" / "o").rglob("*") if p.is_file()
    )
    if case == "lying-part":
        assert index_obj.stats["prefetch_failed"] >= 1
