"""A ``GOCACHEPROG`` program: Go's build cache on local disk, backed by the cache registry.

The ``go`` command (1.24+) starts ``GOCACHEPROG`` once per invocation and speaks JSON lines
over stdin/stdout (``cmd/go/internal/cacheprog``): the program announces the commands it
knows, then answers ``get`` (action ID → output ID, size and a file on disk), ``put`` (an
output, its body sent as a base64 JSON string on the next line) and ``close``. Requests may
be in flight together, so answers carry the request's ID and may come out of order.

Locally, outputs are files named by their output ID, which is the sha256 of their content,
and action records are small JSON files, so concurrent ``go`` processes can share one
directory (every write is a rename). A local miss asks the registry for the manifest tagged
``go-<action ID>``: only the entries a build asks for are fetched, and a fetched output is
used only if its content hashes to its output ID. Puts are answered at once and uploaded in
the background when this run may write (``GOPIPE_CACHE_WRITES=1``); ``close`` waits for them.
When the registry fails, the program says so once on stderr and carries on from disk: a dead
cache costs speed, never a build.

This module imports nothing of gopipe, and the OCI library (``http.client``, ``ssl``) only when
the first local miss needs the registry: ``go`` starts one cache program per command.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gopipe.remote_cache.store import Store

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
ARTIFACT_TYPE = "application/vnd.gopipe.cache.go-action.v1"
OUTPUT = "dev.gopipe.cache.go-output"
ACTION = "dev.gopipe.cache.go-action"  # keeps two actions with one output apart
CREATED = "org.opencontainers.image.created"
MAX_MANIFEST = 64 << 10
MAX_OUTPUT = 2 << 30
CLOSE_WAIT_S = 120.0
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _hex(b64: str) -> str:
    raw = base64.b64decode(b64)
    if len(raw) != 32:
        raise ValueError("IDs are 32-byte hashes")
    return raw.hex()


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


class LocalStore:
    """Outputs in ``o/<xx>/<output>``, action records in ``a/<xx>/<action>``; all writes renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("o", "a", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def output_path(self, output: str) -> Path:
        return self.root / "o" / output[:2] / output

    def _action_path(self, action: str) -> Path:
        return self.root / "a" / action[:2] / action

    def get(self, action: str) -> tuple[str, int, str] | None:
        try:
            rec = json.loads(self._action_path(action).read_text())
            output, size, when = str(rec["o"]), int(rec["s"]), str(rec["t"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        path = self.output_path(output)
        try:
            if path.stat().st_size != size:
                return None
        except OSError:
            return None
        return output, size, when

    def _write(self, dest: Path, data: bytes) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, dest)

    def has_output(self, output: str, size: int) -> bool:
        try:
            return self.output_path(output).stat().st_size == size
        except OSError:
            return False

    def put_output(self, output: str, data: bytes) -> Path:
        path = self.output_path(output)
        if not (path.is_file() and path.stat().st_size == len(data)):
            self._write(path, data)
        return path

    def adopt_output(self, output: str, tmp: Path) -> Path:
        path = self.output_path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)
        return path

    def put_action(self, action: str, output: str, size: int, when: str) -> None:
        self._write(self._action_path(action), json.dumps({"o": output, "s": size, "t": when}).encode())

    def tmp_file(self) -> Path:
        fd, name = tempfile.mkstemp(dir=self.root / "tmp")
        os.close(fd)
        return Path(name)


class Remote:
    """The store side (OCI or S3): one store per thread, off for good after the first failure."""

    def __init__(self, settings: dict[str, Any], env: dict[str, str], log: IO[str]) -> None:
        self.settings = settings
        self.env = env
        self.log = log
        self.down = False
        self._local = threading.local()
        self._lock = threading.Lock()
        self._stores: list[Store] = []

    def client(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            from gopipe.remote_cache.store import open_store

            store = open_store(self.settings, self.env)
            self._local.store = store
            with self._lock:
                self._stores.append(store)
        return store

    def fail(self, what: str, exc: BaseException) -> None:
        with self._lock:
            if self.down:
                return
            self.down = True
        self.log.write(
            f"gopipe gocacheprog: remote cache unavailable, using the local cache only "
            f"(only speed is lost): {what}: {type(exc).__name__}: {exc}\n"
        )
        self.log.flush()

    def fetch(self, action: str, local: LocalStore) -> tuple[str, int, str] | None:
        """Look ``action`` up in the store and bring its output to disk; None on a miss."""
        if self.down:
            return None
        from gopipe_oci import DigestMismatchError, NotFoundError, OciError, TooLargeError

        try:
            store = self.client()
            try:
                manifest: Any = store.get_ref(f"go-{action}", max_bytes=MAX_MANIFEST).json()
            except ValueError:
                return None  # not JSON: a corrupt entry is a miss
            if not isinstance(manifest, dict):
                return None
            layers = manifest.get("layers") or []
            notes = manifest.get("annotations") or {}
            output = str(notes.get(OUTPUT, ""))
            if not _HEX64.fullmatch(output):
                return None  # not an output ID: never a file name
            if len(layers) != 1 or layers[0].get("digest") != f"sha256:{output}":
                return None  # not an entry this program wrote: a miss
            size = layers[0]["size"]
            if not isinstance(size, int) or not 0 <= size <= MAX_OUTPUT:
                return None
            self.download(output, size, local)
            when = str(notes.get(CREATED) or now())
            local.put_action(action, output, size, when)
            return output, size, when
        except (NotFoundError, DigestMismatchError, TooLargeError):
            return None  # a miss, or a corrupt entry (a miss too): the store is still fine
        except OciError as exc:
            if "does not match" in str(exc) or "exceed" in str(exc) or "more than" in str(exc):
                return None
            self.fail(f"get {action[:12]}", exc)
        except (OSError, ValueError, LookupError, KeyError, TypeError, AttributeError) as exc:
            self.fail(f"get {action[:12]}", exc)
        return None

    def fetch_indexed(
        self, action: str, output: str, size: int, local: LocalStore
    ) -> tuple[str, int, str] | None:
        """The output the run's index names for ``action``: one download, no manifest."""
        if self.down or not 0 <= size <= MAX_OUTPUT:
            return None
        from gopipe_oci import DigestMismatchError, NotFoundError, OciError, TooLargeError

        if not (local.output_path(output).is_file() and local.output_path(output).stat().st_size == size):
            try:
                self.download(output, size, local)
            except (NotFoundError, DigestMismatchError, TooLargeError):
                return None  # the entry-by-entry lookup decides
            except (OciError, OSError, ValueError, LookupError) as exc:
                self.fail(f"get {action[:12]}", exc)
                return None
        when = now()
        local.put_action(action, output, size, when)
        return output, size, when

    def download(self, output: str, size: int, local: LocalStore) -> None:
        """The output blob into the local store, only if its content hashes to ``output``."""
        tmp = local.tmp_file()
        try:
            self.client().download_blob(f"sha256:{output}", tmp, max_bytes=size)
            if tmp.stat().st_size != size or sha256_file(tmp) != output:
                from gopipe_oci import DigestMismatchError

                raise DigestMismatchError(f"output {output[:12]}: content does not match")
            local.adopt_output(output, tmp)
        finally:
            tmp.unlink(missing_ok=True)

    def store(self, action: str, output: str, path: Path, size: int) -> None:
        if self.down:
            return
        from gopipe_oci import OciError

        try:
            store = self.client()
            digest = f"sha256:{output}"
            if not store.has_blob(digest):
                store.put_blob(digest, path)
            manifest = {
                "schemaVersion": 2,
                "mediaType": MEDIA_MANIFEST,
                "artifactType": ARTIFACT_TYPE,
                "config": {"mediaType": MEDIA_EMPTY, "digest": EMPTY_DIGEST, "size": 2},
                "layers": [{"mediaType": "application/octet-stream", "digest": digest, "size": size}],
                "annotations": {OUTPUT: output, ACTION: action, CREATED: now()},
            }
            data = json.dumps(manifest, sort_keys=True).encode()
            store.put_ref(f"go-{action}", data)
        except (OciError, OSError, ValueError, LookupError) as exc:
            self.fail(f"put {action[:12]}", exc)

    def close(self) -> None:
        with self._lock:
            for store in self._stores:
                store.close()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class CacheProgram:
    """Reads requests from *stdin*, answers on *stdout*."""

    def __init__(
        self,
        local: LocalStore,
        remote: Remote | None,
        writes: bool,
        stdin: IO[bytes],
        stdout: IO[bytes],
    ) -> None:
        self.local = local
        self.remote = remote
        self.writes = writes and remote is not None
        self.stdin = stdin
        self.stdout = stdout
        self._out = threading.Lock()
        self._gets = ThreadPoolExecutor(max_workers=8, thread_name_prefix="get")
        self._puts = ThreadPoolExecutor(max_workers=4, thread_name_prefix="put")
        self._pending: list[Future[None]] = []
        self.stats = {"get": 0, "hit": 0, "remote_hit": 0, "index_hit": 0, "miss": 0, "put": 0}
        self.used: list[list[object]] = []  # [action, output, size] in the order go used them
        self._index: dict[str, tuple[str, int]] | None = None
        self._index_lock = threading.Lock()

    def _indexed(self, action: str) -> tuple[str, int] | None:
        """What the run's Go cache index (``GOPIPE_GOCACHE_INDEX``, written by gopipe) names."""
        with self._index_lock:
            if self._index is None:
                self._index = {}
                name = os.environ.get("GOPIPE_GOCACHE_INDEX", "")
                try:
                    raw = json.loads(Path(name).read_text())["entries"] if name else []
                    for item in raw:
                        a, o, size = item
                        if _HEX64.fullmatch(str(a)) and _HEX64.fullmatch(str(o)) and isinstance(size, int):
                            self._index[str(a)] = (str(o), size)
                except (OSError, ValueError, KeyError, TypeError):
                    pass  # no index: entry by entry
            return self._index.get(action)

    def _send(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        with self._out:
            self.stdout.write(line)
            self.stdout.flush()

    def _hit(self, rid: int, output: str, size: int, when: str) -> None:
        self._send(
            {
                "ID": rid,
                "OutputID": base64.b64encode(bytes.fromhex(output)).decode(),
                "Size": size,
                "Time": when,
                "DiskPath": str(self.local.output_path(output)),
            }
        )

    def _get(self, rid: int, action: str) -> None:
        found = self.local.get(action)
        if found is not None:
            self.stats["hit"] += 1
            self._used(action, found[0], found[1])
            self._hit(rid, *found)
            return
        if self.remote is not None and (indexed := self._indexed(action)) is not None:
            found = self.remote.fetch_indexed(action, *indexed, self.local)
            if found is not None:
                self.stats["index_hit"] += 1
                self._used(action, found[0], found[1])
                self._hit(rid, *found)
                return
        if self.remote is not None:
            found = self.remote.fetch(action, self.local)
            if found is not None:
                self.stats["remote_hit"] += 1
                self._used(action, found[0], found[1])
                self._hit(rid, *found)
                return
        self.stats["miss"] += 1
        self._send({"ID": rid, "Miss": True})

    def _used(self, action: str, output: str, size: int) -> None:
        with self._index_lock:
            self.used.append([action, output, size])

    def _get_safely(self, rid: int, action: str) -> None:
        try:
            self._get(rid, action)
        except Exception as exc:  # never leave the go command waiting for an answer
            self._send({"ID": rid, "Err": f"gocacheprog: {type(exc).__name__}: {exc}"})

    def _put(self, rid: int, req: dict[str, Any], body: bytes) -> None:
        action = _hex(str(req["ActionID"]))
        output = _hex(str(req["OutputID"]))
        if hashlib.sha256(body).hexdigest() != output:
            self._send({"ID": rid, "Err": "gocacheprog: body does not match its OutputID"})
            return
        path = self.local.put_output(output, body)
        self.local.put_action(action, output, len(body), now())
        self.stats["put"] += 1
        self._used(action, output, len(body))
        self._send({"ID": rid, "DiskPath": str(path)})
        if self.writes and self.remote is not None:
            self._pending.append(self._puts.submit(self.remote.store, action, output, path, len(body)))

    def _body_line(self) -> bytes:
        """The base64 JSON string after a put (the go command may send a blank line first)."""
        while True:
            line = self.stdin.readline()
            if not line or line.strip():
                return line

    def serve(self) -> None:
        self._send({"ID": 0, "KnownCommands": ["get", "put", "close"]})
        while line := self.stdin.readline():
            if not line.strip():
                continue
            req = json.loads(line)
            rid = int(req.get("ID", 0))
            command = req.get("Command")
            if command == "get":
                self.stats["get"] += 1
                try:
                    action = _hex(str(req["ActionID"]))
                except (KeyError, ValueError) as exc:
                    self._send({"ID": rid, "Err": f"gocacheprog: bad ActionID: {exc}"})
                    continue
                self._gets.submit(self._get_safely, rid, action)
            elif command == "put":
                body = b""
                if int(req.get("BodySize", 0)) > 0:
                    body = base64.b64decode(json.loads(self._body_line()))
                try:
                    self._put(rid, req, body)
                except (KeyError, ValueError, OSError) as exc:
                    self._send({"ID": rid, "Err": f"gocacheprog: {type(exc).__name__}: {exc}"})
            elif command == "close":
                self._close()
                self._send({"ID": rid})
                return
            else:
                self._send({"ID": rid, "Err": f"gocacheprog: unknown command {command!r}"})
        self._close()  # stdin closed without a close request

    def _close(self) -> None:
        self._gets.shutdown(wait=True)
        deadline = time.monotonic() + CLOSE_WAIT_S
        for future in self._pending:
            with contextlib.suppress(Exception):  # a failed upload only costs speed
                future.result(timeout=max(0.0, deadline - time.monotonic()))
        self._puts.shutdown(wait=False, cancel_futures=True)
        if self.remote is not None:
            self.remote.close()
        journal = os.environ.get("GOPIPE_GOCACHE_JOURNAL")
        if journal and self.used:  # a trusted run: gopipe turns this into the stage's index
            line = json.dumps({"stage": os.environ.get("GOPIPE_STAGE", ""), "e": self.used}) + "\n"
            with contextlib.suppress(OSError):
                fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, line.encode())  # one append: programs of parallel go commands
                finally:
                    os.close(fd)
        stats_file = os.environ.get("GOPIPE_GOCACHEPROG_STATS")
        if stats_file:
            with open(stats_file, "a") as fh:
                fh.write(json.dumps(self.stats) + "\n")


def cache_dir(env: dict[str, str]) -> Path:
    if env.get("GOPIPE_GOCACHEPROG_DIR"):
        return Path(env["GOPIPE_GOCACHEPROG_DIR"])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    # not below ~/.cache/gopipe: the workflows keep that in an actions/cache tarball
    return Path(base) / "gopipe-gocacheprog"


def main() -> int:
    env = dict(os.environ)
    remote: Remote | None = None
    settings_file = env.get("GOPIPE_CACHE_CONNECTION", "")
    if settings_file:
        try:
            remote = Remote(json.loads(Path(settings_file).read_text()), env, sys.stderr)
        except (OSError, ValueError) as exc:
            sys.stderr.write(f"gopipe gocacheprog: no remote cache ({exc}); using the local cache only\n")
    program = CacheProgram(
        LocalStore(cache_dir(env)),
        remote,
        env.get("GOPIPE_CACHE_WRITES") == "1",
        sys.stdin.buffer,
        sys.stdout.buffer,
    )
    program.serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
