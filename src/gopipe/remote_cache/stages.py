"""Stage results in the registry: one artifact manifest per stage fingerprint.

The manifest (tag ``stage-<stage>-<fingerprint>``) points at a small JSON entry (summary,
artifacts, findings: what the local stage cache keeps) and at every file the stage produced,
each a blob named by its sha256, so a binary that two stages or two commits share is stored
once. A restore writes files only inside ``dist/``, only after the blob matched the sha256 the
entry records, and refuses an entry that is too large, names a path outside ``dist/``, or
does not parse: any of those is a miss, and the stage runs. A registry that cannot be reached
is a miss too; the first failure turns the remote off for the rest of the run (one log line),
so a dead cache costs one timeout, not one per stage.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path, PurePosixPath
from typing import Any

from gopipe.artifacts import Artifact, Finding, sha256_file
from gopipe.cache import CachedStage
from gopipe.remote_cache.connection import (
    CREATED,
    EMPTY_DIGEST,
    MAX_MANIFEST_BYTES,
    MEDIA_EMPTY,
    MEDIA_MANIFEST,
    TITLE,
    ClientPool,
    Connection,
)
from gopipe.remote_cache.go_index import GoIndex
from gopipe.remote_cache.options import CacheOptions
from gopipe.remote_cache.store import Store
from gopipe.remote_cache.trust import WriteDecision
from gopipe.stages import Stage
from gopipe_oci import DigestMismatchError, NotFoundError, OciError, TooLargeError

ARTIFACT_TYPE = "application/vnd.gopipe.cache.stage.v1"
MEDIA_ENTRY = "application/vnd.gopipe.cache.entry.v1+json"
MEDIA_FILE = "application/octet-stream"
MODE = "dev.gopipe.cache.mode"
STAGE = "dev.gopipe.cache.stage"
FINGERPRINT = "dev.gopipe.cache.fingerprint"
MAX_ENTRY_JSON = 16 << 20
_HEX = re.compile(r"[0-9a-f]{64}")


class Rejected(Exception):
    """A remote entry that exists but must not be used (corrupt, hostile or too large)."""


def stage_tag(stage: Stage | str, key: str) -> str:
    return f"stage-{Stage(stage).value}-{key}"


class RemoteStageCache:
    """Looks stage results up in, and stores them to, the cache repository."""

    def __init__(
        self,
        connection: Connection,
        opts: CacheOptions,
        *,
        root: Path,
        dist: Path,
        env: Mapping[str, str],
        redact: Callable[[str], str],
        say: Callable[[str], None],
        writes: WriteDecision,
    ) -> None:
        self.connection = connection
        self.opts = opts
        self.root = root.resolve()
        self.dist = dist.resolve()
        self.redact = redact
        self.say = say
        self.writes = writes
        self.pool = ClientPool(connection, env, redact)
        self.down: str | None = None  # why the remote was turned off for this run
        self._lock = threading.Lock()
        self.stats = {"hits": 0, "misses": 0, "rejected": 0, "stored": 0, "downloaded_bytes": 0}
        self.go_index: GoIndex | None = None  # set when Go's build cache comes from the remote

    # -- failure handling ---------------------------------------------------------------
    def _client(self) -> Store | None:
        if self.down is not None:
            return None
        try:
            return self.pool.get()
        except LookupError as exc:  # the password's variable or file is missing
            self._turn_off(f"no credentials: {exc}")
            return None
        except OciError as exc:  # the backend cannot be loaded (boto3 missing)
            self._turn_off(str(exc))
            return None

    def _turn_off(self, why: str) -> None:
        with self._lock:
            if self.down is not None:
                return
            self.down = why
        self.say(self.redact(f"remote cache unavailable, continuing without it (only speed is lost): {why}"))

    def stage_runs(self, stage: Stage) -> None:
        """A stage missed the caches and runs: prefetch the Go cache entries it used last time."""
        if self.go_index is not None and self.down is None:
            self.go_index.stage_runs(stage.value)

    def close(self) -> None:
        if self.go_index is not None:
            self.go_index.writes = self.go_index.writes and self.down is None
            self.go_index.close()
            self.stats.update(self.go_index.stats)
        self.pool.close()

    # -- reads --------------------------------------------------------------------------
    def lookup(self, stage: Stage, key: str) -> CachedStage | None:
        """The stage's stored result with its files restored into ``dist/``, or None (a miss)."""
        client = self._client()
        if client is None:
            return None
        tag = stage_tag(stage, key)
        try:
            manifest = client.get_ref(tag, max_bytes=MAX_MANIFEST_BYTES).json()
            entry = self._restore(client, stage, key, manifest)
        except NotFoundError:
            self.stats["misses"] += 1
            return None
        except (TooLargeError, DigestMismatchError) as exc:
            self.stats["rejected"] += 1
            self.say(self.redact(f"remote cache entry {tag} rejected, the stage runs: {exc}"))
            return None
        except Rejected as exc:
            self.stats["rejected"] += 1
            self.say(self.redact(f"remote cache entry {tag} rejected, the stage runs: {exc}"))
            return None
        except (OciError, OSError, ValueError) as exc:
            self._turn_off(f"{type(exc).__name__}: {exc}")
            return None
        self.stats["hits"] += 1
        return entry

    def _restore(self, client: Store, stage: Stage, key: str, manifest: Any) -> CachedStage:
        if not isinstance(manifest, dict) or manifest.get("artifactType") != ARTIFACT_TYPE:
            raise Rejected("not a gopipe stage entry")
        notes = manifest.get("annotations") or {}
        if notes.get(FINGERPRINT) != key or notes.get(STAGE) != stage.value:
            raise Rejected("its annotations name another stage or fingerprint")
        layers = manifest.get("layers")
        if not isinstance(layers, list) or not layers or not all(isinstance(la, dict) for la in layers):
            raise Rejected("no layers")
        head = layers[0]
        if head.get("mediaType") != MEDIA_ENTRY or not _size_ok(head, MAX_ENTRY_JSON):
            raise Rejected("the entry layer is missing or larger than 16 MiB")
        try:
            data = json.loads(client.get_blob(str(head["digest"]), max_bytes=MAX_ENTRY_JSON))
            if data.get("fingerprint") != key:
                raise Rejected("the entry names another fingerprint")
            artifacts = [Artifact(**{**a, "extra": a.get("extra", {})}) for a in data["artifacts"]]
            findings = [Finding(**f) for f in data.get("findings", [])]
            summary = str(data.get("summary", ""))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise Rejected(f"the entry does not parse ({type(exc).__name__})") from None
        files = {str(la.get("digest")): la for la in layers[1:]}
        plan: list[tuple[Path, dict[str, Any], str]] = []
        for a in artifacts:
            if a.path is None:
                continue
            if not isinstance(a.sha256, str) or not _HEX.fullmatch(a.sha256):
                raise Rejected(f"{a.path} has no sha256 to check it against")
            dest = self._destination(str(a.path))
            layer = files.get(f"sha256:{a.sha256}")
            if layer is None:
                raise Rejected(f"{a.path}: no blob with its sha256")
            if not _size_ok(layer, self.opts.max_entry_bytes):
                raise Rejected(f"{a.path}: larger than max_entry_bytes ({self.opts.max_entry_bytes})")
            plan.append((dest, layer, a.sha256))
        for dest, layer, sha in plan:
            self._fetch(client, dest, layer, sha)
        return CachedStage(key, summary, artifacts, findings)

    def _destination(self, rel: str) -> Path:
        """Where a recorded artifact goes: a relative path below ``dist/``, through no symlink."""
        pure = PurePosixPath(rel)
        if not rel or pure.is_absolute() or ".." in pure.parts or "\\" in rel:
            raise Rejected(f"{rel!r} is not a plain relative path")
        dest = self.root / pure
        if not dest.parent.resolve().is_relative_to(self.dist):
            raise Rejected(f"{rel!r} leaves {self.dist.relative_to(self.root)}/")
        return dest

    def _fetch(self, client: Store, dest: Path, layer: dict[str, Any], sha: str) -> None:
        if dest.is_file() and not dest.is_symlink() and sha256_file(dest) == sha:
            return  # already there: a cd job whose checkout already had it, or a shared binary
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.parent.resolve().is_relative_to(self.dist):  # a symlink raced into the path
            raise Rejected(f"{dest.parent} leaves dist/")
        fd, tmp_name = tempfile.mkstemp(prefix=".gopipe-restore-", dir=dest.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            client.download_blob(f"sha256:{sha}", tmp, max_bytes=int(layer["size"]))
            if sha256_file(tmp) != sha:  # download_blob checked the stream; check what landed
                raise Rejected(f"{dest.name}: content does not match its sha256")
            mode = str((layer.get("annotations") or {}).get(MODE, "644"))
            tmp.chmod(int(mode, 8) & 0o755 if mode.isdigit() and len(mode) <= 4 else 0o644)
            self.stats["downloaded_bytes"] += tmp.stat().st_size
            os.replace(tmp, dest)
        except (DigestMismatchError, TooLargeError) as exc:
            raise Rejected(str(exc)) from None
        except OciError as exc:
            if "does not match" in str(exc) or "exceeds" in str(exc) or "more than" in str(exc):
                raise Rejected(str(exc)) from None
            raise
        finally:
            tmp.unlink(missing_ok=True)

    # -- writes -------------------------------------------------------------------------
    def store(self, stage: Stage, entry: CachedStage, redact_obj: Callable[[object], object]) -> None:
        """Push the stage's result (only when this run may write; failures only cost speed)."""
        if not self.writes.allowed:
            return
        client = self._client()
        if client is None:
            return
        try:
            self._push(client, stage, entry, redact_obj)
            self.stats["stored"] += 1
        except (OciError, OSError, ValueError) as exc:
            self._turn_off(f"storing {stage.value} failed: {type(exc).__name__}: {exc}")

    def _push(
        self, client: Store, stage: Stage, entry: CachedStage, redact_obj: Callable[[object], object]
    ) -> None:
        body = json.dumps(
            redact_obj(
                {
                    "fingerprint": entry.fingerprint,
                    "summary": entry.summary,
                    "artifacts": [a.to_json() for a in entry.artifacts],
                    "findings": [asdict(f) for f in entry.findings],
                }
            ),
            sort_keys=True,
        ).encode()
        entry_digest = _digest(body)
        if not client.has_blob(entry_digest):
            client.put_blob(entry_digest, body)
        layers: list[dict[str, Any]] = [{"mediaType": MEDIA_ENTRY, "digest": entry_digest, "size": len(body)}]
        seen: set[str] = set()
        for a in entry.artifacts:
            if a.path is None or not a.sha256:
                continue
            path = self.root / str(a.path)
            digest = f"sha256:{a.sha256}"
            if digest in seen:
                continue
            if not path.is_file() or sha256_file(path) != a.sha256:
                return  # the file changed after the stage recorded it: store nothing
            seen.add(digest)
            if not client.has_blob(digest):
                client.put_blob(digest, path)
            mode = stat.S_IMODE(path.stat().st_mode) & 0o755
            layers.append(
                {
                    "mediaType": MEDIA_FILE,
                    "digest": digest,
                    "size": path.stat().st_size,
                    "annotations": {TITLE: str(a.path), MODE: f"{mode:o}"},
                }
            )
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": MEDIA_EMPTY, "digest": EMPTY_DIGEST, "size": 2},
            "layers": layers,
            "annotations": {
                CREATED: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                STAGE: stage.value,
                FINGERPRINT: entry.fingerprint,
            },
        }
        data = json.dumps(manifest, sort_keys=True).encode()
        client.put_ref(stage_tag(stage, entry.fingerprint), data)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _size_ok(layer: Mapping[str, Any], limit: int) -> bool:
    size = layer.get("size")
    return isinstance(size, int) and 0 <= size <= limit
