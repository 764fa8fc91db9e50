"""An index of Go's build actions per stage, so a fresh runner gets Go's cache in parallel.

Go asks ``GOCACHEPROG`` for actions along its dependency graph with about ``-p`` requests in
flight, and a remote hit through ``go-<action>`` costs two round trips (the manifest, then
the output), one after another: on examples/hello about 390 of them, slower than unpacking a
tarball of the whole cache. So a trusted run also records which actions each stage's ``go``
commands used (every cache program appends them to a journal in ``dist/gopipe/cache/``), and
at the end writes one index per stage, ``go-index-<stage>-<scope>``: action ID → output ID
and size, in the order Go asked for them. ``scope`` is the Go version and the runner's
platform, whose action IDs are the only ones that can match.

A later run, when a Go stage is about to run (it missed the stage caches), loads that stage's
index (one ref and one blob), writes it to a local file the cache programs read, and
prefetches the outputs into the programs' directory with a few parallel downloads while the
stage's ``go`` commands start. A ``get`` is then answered
from disk, or, if the prefetch has not got there yet, by one direct download of the output
the index names. Every output is used only if its content hashes to its output ID and has
the indexed size; an index is as trusted as the ``go-<action>`` entries (only trusted runs
write either), and a wrong or hostile entry can only be a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gopipe.remote_cache.connection import CREATED, MAX_MANIFEST_BYTES, ClientPool
from gopipe.remote_cache.gocacheprog import MAX_OUTPUT, LocalStore, now, sha256_file
from gopipe.remote_cache.store import EMPTY_DIGEST, MEDIA_EMPTY, MEDIA_MANIFEST, sha256_digest
from gopipe_oci import NotFoundError, OciError

ARTIFACT_TYPE = "application/vnd.gopipe.cache.go-index.v1"
MEDIA_INDEX = "application/vnd.gopipe.cache.go-index.v1+json"
STAGE_NOTE = "dev.gopipe.cache.stage"
MAX_INDEX_BYTES = 64 << 20
MAX_PACK_BYTES = MAX_OUTPUT
MEDIA_PACK = "application/vnd.gopipe.cache.go-pack.v1"
MAX_ENTRIES = 500_000
PREFETCH_WORKERS = 8
_HEX = re.compile(r"[0-9a-f]{64}")
_SCOPE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
GO_STAGES = ("lint", "test", "coverage", "build")

Entry = tuple[str, str, int]  # action ID, output ID, size


def index_scope(go_version: str) -> str:
    """The part of the ref name that keeps Go versions and runner platforms apart."""
    raw = f"{go_version}-{platform.system()}-{platform.machine()}".lower()
    return _SCOPE_CHARS.sub("_", raw)[:80]


def index_tag(stage: str, scope: str) -> str:
    return f"go-index-{stage}-{scope}"


def valid_entries(raw: object) -> list[Entry]:
    """The well-formed entries of a parsed index or journal line; anything else is dropped."""
    if not isinstance(raw, list):
        return []
    found: list[Entry] = []
    for item in raw[:MAX_ENTRIES]:
        if not (isinstance(item, list) and len(item) == 3):
            continue
        action, output, size = item
        if (
            isinstance(action, str)
            and isinstance(output, str)
            and _HEX.fullmatch(action)
            and _HEX.fullmatch(output)
            and isinstance(size, int)
            and not isinstance(size, bool)
            and 0 <= size <= MAX_OUTPUT
        ):
            found.append((action, output, size))
    return found


def read_journal(path: Path) -> dict[str, list[Entry]]:
    """What the cache programs of this run used, per stage, first use first, no repeats."""
    per_stage: dict[str, dict[str, Entry]] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or str(record.get("stage")) not in GO_STAGES:
            continue
        seen = per_stage.setdefault(str(record["stage"]), {})
        for entry in valid_entries(record.get("e")):
            seen.setdefault(entry[0], entry)
    return {stage: list(entries.values()) for stage, entries in per_stage.items()}


class GoIndex:
    """Loads the planned stages' indexes and prefetches them; writes this run's at the end."""

    def __init__(
        self,
        pool: ClientPool,
        local_dir: Path,
        *,
        index_file: Path,
        journal: Path,
        scope: str,
        writes: bool,
        say: Callable[[str], None],
    ) -> None:
        self.pool = pool
        self.local_dir = local_dir
        self.index_file = index_file
        self.journal = journal
        self.scope = scope
        self.writes = writes
        self.say = say
        self.stats = {
            "indexed": 0,
            "prefetched": 0,
            "prefetch_failed": 0,
            "prefetch_missing": 0,
            "index_stored": 0,
        }
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._loaded: set[str] = set()
        self._known: dict[str, Entry] = {}
        self._local = LocalStore(local_dir)

    # -- reads ------------------------------------------------------------------------------
    def stage_runs(self, stage: str) -> int:
        """Before a Go stage runs (it missed the caches): load its index, prefetch what is new.

        Returns how many entries it added. Stages may call this from several threads.
        """
        if stage not in GO_STAGES:
            return 0
        with self._lock:
            if stage in self._loaded or self._stop.is_set():
                return 0
            self._loaded.add(stage)
        fetched, pack = self._fetch_index(stage)
        with self._lock:
            new = [e for e in fetched if e[0] not in self._known]
            for entry in new:
                self._known[entry[0]] = entry
            if not new:
                return 0
            packed: set[str] = set()
            if pack is not None:
                packed = {output for output, _offset, _size in pack.parts}
                self._start_unpack(pack, [e for e in new if e[1] in packed])
            self.index_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.index_file.with_name(f"{self.index_file.name}.{stage}.tmp")
            tmp.write_text(json.dumps({"entries": list(self._known.values())}, separators=(",", ":")))
            os.replace(tmp, self.index_file)
            self.stats["indexed"] = len(self._known)
            self._start_prefetch([e for e in new if e[1] not in packed])
        return len(new)

    def _fetch_index(self, stage: str) -> tuple[list[Entry], Pack | None]:
        try:
            store = self.pool.get()
            manifest: Any = store.get_ref(index_tag(stage, self.scope), max_bytes=MAX_MANIFEST_BYTES).json()
            if not isinstance(manifest, dict) or manifest.get("artifactType") != ARTIFACT_TYPE:
                return [], None
            layers = manifest.get("layers")
            if not (isinstance(layers, list) and 1 <= len(layers) <= 2):
                return [], None
            if not all(isinstance(la, dict) for la in layers):
                return [], None
            size = layers[0].get("size")
            if not isinstance(size, int) or not 0 <= size <= MAX_INDEX_BYTES:
                return [], None
            data = json.loads(store.get_blob(str(layers[0].get("digest")), max_bytes=size))
            entries = valid_entries(data.get("entries"))
            pack = valid_pack(layers[1], data.get("pack")) if len(layers) == 2 else None
            return entries, pack
        except NotFoundError:
            return [], None
        except (OciError, OSError, ValueError, LookupError, AttributeError) as exc:
            # a bad index only costs speed; the cache programs still ask entry by entry
            self.say(f"Go cache index for {stage} not used: {type(exc).__name__}: {exc}")
            return [], None

    def _start_unpack(self, pack: Pack, entries: list[Entry]) -> None:
        wanted = [e for e in entries if self._local.get(e[0]) is None]
        if not wanted:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=PREFETCH_WORKERS, thread_name_prefix="go-prefetch")
        self._pool.submit(self._unpack, pack, wanted)

    def _unpack(self, pack: Pack, entries: list[Entry]) -> None:
        """One download of the stage's pack, split into outputs that each match their ID."""
        local = self._local
        tmp = local.tmp_file()
        try:
            self.pool.get().download_blob(pack.digest, tmp, max_bytes=pack.size)
            want = {output: size for _action, output, size in entries}
            with tmp.open("rb") as fh:
                for output, offset, size in pack.parts:
                    if self._stop.is_set():
                        return
                    if want.get(output) != size or local.has_output(output, size):
                        continue
                    fh.seek(offset)
                    data = fh.read(size)
                    if len(data) != size or sha256_digest(data) != f"sha256:{output}":
                        with self._lock:
                            self.stats["prefetch_failed"] += 1
                        continue  # that output is a miss; the others are still good
                    local.put_output(output, data)
            for action, output, size in entries:
                if local.has_output(output, size) and local.get(action) is None:
                    local.put_action(action, output, size, now())
                    with self._lock:
                        self.stats["prefetched"] += 1
        except (OciError, OSError, ValueError, LookupError):
            with self._lock:
                self.stats["prefetch_failed"] += 1
            # no pack: fetch the entries one by one instead
            with self._lock:
                if self._stop.is_set():
                    return
                if self._pool is None:  # drained meanwhile
                    self._pool = ThreadPoolExecutor(
                        max_workers=PREFETCH_WORKERS, thread_name_prefix="go-prefetch"
                    )
                pool = self._pool
            for entry in entries:
                with contextlib.suppress(RuntimeError):  # the pool is shutting down
                    pool.submit(self._prefetch, local, entry)
        finally:
            tmp.unlink(missing_ok=True)

    def _start_prefetch(self, entries: Sequence[Entry]) -> None:
        todo = [e for e in entries if self._local.get(e[0]) is None]
        if not todo:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=PREFETCH_WORKERS, thread_name_prefix="go-prefetch")
        for entry in todo:
            self._pool.submit(self._prefetch, self._local, entry)

    def _prefetch(self, local: LocalStore, entry: Entry) -> None:
        if self._stop.is_set():
            return
        action, output, size = entry
        if local.get(action) is not None:
            return  # a cache program got there first
        path = local.output_path(output)
        try:
            if not (path.is_file() and path.stat().st_size == size):
                tmp = local.tmp_file()
                try:
                    self.pool.get().download_blob(f"sha256:{output}", tmp, max_bytes=size)
                    if tmp.stat().st_size != size or sha256_file(tmp) != output:
                        raise OciError(f"output {output[:12]}: content does not match")
                    local.adopt_output(output, tmp)
                finally:
                    tmp.unlink(missing_ok=True)
            local.put_action(action, output, size, now())
            with self._lock:
                self.stats["prefetched"] += 1
        except NotFoundError:  # pruned since the index was written: the program will miss it
            with self._lock:
                self.stats["prefetch_missing"] += 1
        except (OciError, OSError, ValueError, LookupError):
            with self._lock:
                self.stats["prefetch_failed"] += 1
            # the cache program asks again on its own; a dead store stops the rest
            if self.stats["prefetch_failed"] >= 8:
                self._stop.set()

    def drain(self) -> None:
        """Wait until every prefetch queued so far is done (tests and benchmarks)."""
        while True:
            with self._lock:
                pool, self._pool = self._pool, None
            if pool is None:
                return
            pool.shutdown(wait=True)  # a failed pack may queue single downloads on a new pool

    # -- writes -----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the prefetch; in a trusted run, store one index per stage that ran Go."""
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if not self.writes:
            return
        for stage, entries in read_journal(self.journal).items():
            try:
                self._store(stage, entries)
                self.stats["index_stored"] += 1
            except (OciError, OSError, ValueError, LookupError) as exc:
                self.say(f"Go cache index for {stage} not stored (only speed is lost): {exc}")
                return
        with contextlib.suppress(OSError):
            self.journal.unlink()

    def _store(self, stage: str, entries: list[Entry]) -> None:
        import time

        store = self.pool.get()
        pack_file = self._local.tmp_file()
        try:
            parts, pack_digest, pack_size = self._write_pack(entries, pack_file)
            pack_layer: list[dict[str, object]] = []
            if parts:
                if not store.has_blob(pack_digest):
                    store.put_blob(pack_digest, pack_file)
                pack_layer = [{"mediaType": MEDIA_PACK, "digest": pack_digest, "size": pack_size}]
        finally:
            pack_file.unlink(missing_ok=True)
        index: dict[str, object] = {"entries": entries}
        if pack_layer:
            index["pack"] = parts
        body = json.dumps(index, separators=(",", ":")).encode()
        digest = sha256_digest(body)
        if not store.has_blob(digest):
            store.put_blob(digest, body)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": MEDIA_EMPTY, "digest": EMPTY_DIGEST, "size": 2},
            "layers": [{"mediaType": MEDIA_INDEX, "digest": digest, "size": len(body)}, *pack_layer],
            "annotations": {
                CREATED: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                STAGE_NOTE: stage,
            },
        }
        store.put_ref(index_tag(stage, self.scope), json.dumps(manifest, sort_keys=True).encode())

    def _write_pack(self, entries: list[Entry], dest: Path) -> tuple[list[list[object]], str, int]:
        """The stage's outputs, each once, one after another: (parts, digest, size)."""
        parts: list[list[object]] = []
        seen: set[str] = set()
        hasher = hashlib.sha256()
        offset = 0
        with dest.open("wb") as out:
            for _action, output, size in entries:
                if output in seen or not self._local.has_output(output, size):
                    continue
                if offset + size > MAX_PACK_BYTES:
                    break
                data = self._local.output_path(output).read_bytes()
                if len(data) != size or hashlib.sha256(data).hexdigest() != output:
                    continue  # changed under us: not packed (it stays in the index)
                seen.add(output)
                out.write(data)
                hasher.update(data)
                parts.append([output, offset, size])
                offset += size
        return parts, "sha256:" + hasher.hexdigest(), offset


@dataclass(frozen=True)
class Pack:
    """One blob with a stage's outputs back to back, so a fresh runner fetches them at once."""

    digest: str
    size: int
    parts: tuple[tuple[str, int, int], ...]  # output ID, offset, size


def valid_pack(layer: dict[str, Any], raw: object) -> Pack | None:
    """The pack a manifest layer and the index's ``pack`` list describe, or None if malformed."""
    digest, size = layer.get("digest"), layer.get("size")
    if not (isinstance(digest, str) and re.fullmatch(r"sha256:[0-9a-f]{64}", digest)):
        return None
    if not (isinstance(size, int) and not isinstance(size, bool) and 0 < size <= MAX_PACK_BYTES):
        return None
    if not isinstance(raw, list):
        return None
    parts: list[tuple[str, int, int]] = []
    for item in raw[:MAX_ENTRIES]:
        if not (isinstance(item, list) and len(item) == 3):
            return None
        output, offset, length = item
        if not (isinstance(output, str) and _HEX.fullmatch(output)):
            return None
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (offset, length)):
            return None
        if offset < 0 or length < 0 or offset + length > size:
            return None
        parts.append((output, offset, length))
    return Pack(digest, size, tuple(parts))
