"""``gopipe cache prune``: apply ``[tool.gopipe.cache.retention]`` to the cache repository.

Stage entries (``stage-*``) and Go build-cache entries (``go-*``) are ranked by the creation
time in their manifest: entries older than ``max_age_days`` go, and of each kind only the
newest ``max_entries`` stay. Deleting a manifest removes its tag; the blobs it alone used are
freed by the registry's garbage collection (``registry garbage-collect``), which only the
registry's operator can run. An S3 bucket has no such collection, so there prune also
deletes the blobs no kept entry needs (older than six hours, so a trusted run uploading
right now keeps its blobs).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from gopipe.config import load_config
from gopipe.errors import ConfigError
from gopipe.remote_cache.connection import CREATED, MAX_MANIFEST_BYTES, Connection
from gopipe.remote_cache.go_index import MAX_INDEX_BYTES, valid_entries
from gopipe.remote_cache.options import KEY, load_cache_options
from gopipe.remote_cache.s3store import S3Store
from gopipe.remote_cache.store import Ref, Store
from gopipe.secrets import Redactor
from gopipe_oci import NotFoundError

KINDS = ("stage-", "go-")
BLOB_GRACE_S = 6 * 3600


@dataclass
class PruneResult:
    kept: int = 0
    deleted: list[str] = field(default_factory=list)
    blobs_deleted: int = 0


def _created(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0  # unknown age: the oldest, pruned first


def _blobs_of(store: Store, tag: str, ref: Ref) -> set[str]:
    """The blobs a kept ref needs: its layers, and for a Go cache index the outputs it lists."""
    try:
        manifest = ref.json()
        layers = manifest.get("layers") or []
        found = {str(la.get("digest")) for la in layers if isinstance(la, dict)}
        if tag.startswith("go-index-") and layers:
            size = int(layers[0].get("size", 0))
            data = store.get_blob(str(layers[0]["digest"]), max_bytes=min(size, MAX_INDEX_BYTES))
            found |= {
                f"sha256:{output}"
                for _action, output, _size in valid_entries(json.loads(data).get("entries"))
            }
        return found
    except (ValueError, AttributeError, KeyError, TypeError, NotFoundError):
        return set()


def _sweep_blobs(
    store: S3Store, referenced: set[str], *, dry_run: bool, now: float | None, say: Callable[[str], None]
) -> int:
    """Delete the blobs no kept ref needs, except ones younger than the grace period (a
    concurrent trusted run uploads its blobs before the ref that names them)."""
    cutoff = (now if now is not None else time.time()) - BLOB_GRACE_S
    count = 0
    for digest, modified in store.list_blobs():
        if digest in referenced or modified > cutoff:
            continue
        count += 1
        if not dry_run:
            store.delete_blob(digest)
    return count


def prune(
    root: Path,
    config_file: Path | None = None,
    *,
    dry_run: bool = False,
    now: float | None = None,
    say: Callable[[str], None] = print,
) -> PruneResult:
    """Delete what the retention policy does not keep; returns what was kept and deleted."""
    config = load_config(root, config_file)
    opts = load_cache_options(config)
    if not opts.remote:
        raise ConfigError(config.display_file, f"{KEY}.remote", "no remote cache is configured", "set remote")
    redact = Redactor()
    redact.add_from_environ(dict(os.environ))
    connection = Connection.from_options(opts, config.root, os.environ)
    creds = connection.credentials(os.environ)
    if creds is not None:
        redact.add(creds.password)
    limit = opts.retention
    cutoff = (now if now is not None else time.time()) - limit.max_age_days * 86400
    result = PruneResult()
    store = connection.store(os.environ, redact)
    referenced: set[str] = set()
    try:
        tags = store.list_refs()
        for kind in KINDS:
            entries: list[tuple[float, str, Ref]] = []
            for tag in (t for t in tags if t.startswith(kind)):
                try:
                    got = store.get_ref(tag, max_bytes=MAX_MANIFEST_BYTES)
                    notes = got.json().get("annotations") or {}
                except NotFoundError:
                    continue
                except (ValueError, AttributeError):
                    notes = {}  # not an entry gopipe wrote: unknown age, pruned first
                created = _created(str(notes.get(CREATED, ""))) if isinstance(notes, dict) else 0.0
                entries.append((created, tag, got))
            entries.sort(key=lambda e: (e[0], e[1]), reverse=True)
            for rank, (created, tag, ref) in enumerate(entries):
                if created >= cutoff and rank < limit.max_entries:
                    result.kept += 1
                    referenced |= _blobs_of(store, tag, ref)
                    continue
                say(redact(f"{'would delete' if dry_run else 'deleting'} {tag}"))
                if not dry_run:
                    store.delete_ref(tag, ref)
                result.deleted.append(tag)
        if isinstance(store, S3Store):  # a registry frees blobs in its own garbage collection
            result.blobs_deleted = _sweep_blobs(store, referenced, dry_run=dry_run, now=now, say=say)
    finally:
        store.close()
    verb = "would delete" if dry_run else "deleted"
    blobs = f", {verb} {result.blobs_deleted} unreferenced blobs" if result.blobs_deleted else ""
    say(f"cache prune: kept {result.kept}, {verb} {len(result.deleted)}{blobs}")
    return result
