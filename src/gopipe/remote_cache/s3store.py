"""The remote cache in an S3 bucket (or an S3-compatible store: MinIO, Ceph, R2 ...).

Same entries as the OCI store, as plain objects under the configured prefix::

    <prefix>/refs/<name>            the ref's JSON (an OCI image manifest, as in a registry)
    <prefix>/blobs/sha256/<hex>     content, named by its sha256

Credentials come from the standard AWS environment only, as for the ``ecr`` and ``s3``
uploaders (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, a profile,
or the runner's role through OIDC): nothing secret is in the configuration or in the settings
file the Go cache program reads. boto3 is the optional extra ``gopipe[s3]``; without it the
remote cache is off for the run (one log line), never a failed run.

Every read is bounded (the object's length is checked before the body is read, and the body
is cut at the limit) and every blob is hashed while it streams; a blob whose content does not
match its key is a :class:`~gopipe_oci.DigestMismatchError`, whatever the bucket says.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gopipe.remote_cache.store import Ref, sha256_digest
from gopipe_oci import DigestMismatchError, NotFoundError, OciError, RegistryError, TooLargeError

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_REF_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_CHUNK = 1 << 20
_MISSING = ("404", "NoSuchKey", "NotFound")


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


class S3Store:
    """Refs and blobs as objects of one bucket below one prefix."""

    def __init__(
        self, client: Any, bucket: str, prefix: str, *, redact: Callable[[str], str] = lambda s: s
    ) -> None:
        self.s3 = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.redact = redact
        self.where = f"s3://{bucket}/{self.prefix}".rstrip("/")

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], env: Mapping[str, str], redact: Callable[[str], str]
    ) -> S3Store:
        """A boto3 client on the standard AWS credential chain; OciError without boto3.

        Keys in the run's environment ``env`` (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
        ``AWS_SESSION_TOKEN``) are used as they are; without them boto3's own chain (profile,
        web identity, instance role) applies, exactly as for the upload stage.
        """
        try:
            import boto3  # type: ignore[import-untyped,unused-ignore]
            from botocore.config import Config  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            raise OciError("an s3:// remote cache needs boto3: pip install 'gopipe[s3]'") from None
        endpoint = str(settings.get("endpoint_url") or "") or None
        timeout = float(settings.get("timeout", 10.0))
        cfg = Config(
            retries={"max_attempts": max(1, int(settings.get("max_attempts", 2))), "mode": "standard"},
            connect_timeout=timeout,
            read_timeout=timeout,
            s3={"addressing_style": "path"} if endpoint else {},
            max_pool_connections=16,
        )
        verify: bool | str | None = None
        if settings.get("ca_file"):
            verify = str(settings["ca_file"])
        elif settings.get("insecure"):
            verify = False
        keys: dict[str, str] = {}
        if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
            keys = {
                "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
            }
            if env.get("AWS_SESSION_TOKEN"):
                keys["aws_session_token"] = env["AWS_SESSION_TOKEN"]
        region = str(settings.get("region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "")
        try:
            session = boto3.session.Session(region_name=region or None, **keys)
            client = session.client("s3", endpoint_url=endpoint, config=cfg, verify=verify)
        except Exception as exc:  # a bad region or endpoint from the environment
            raise RegistryError(redact(f"s3 client: {type(exc).__name__}: {exc}")) from None
        return cls(client, str(settings["host"]), str(settings.get("repository", "")), redact=redact)

    # -- keys -------------------------------------------------------------------------------
    def _key(self, *parts: str) -> str:
        return "/".join((self.prefix, *parts)) if self.prefix else "/".join(parts)

    def _ref_key(self, name: str) -> str:
        if not _REF_NAME.fullmatch(name):
            raise ValueError(f"not a cache ref name: {name!r}")
        return self._key("refs", name)

    def _blob_key(self, digest: str) -> str:
        if not _DIGEST.fullmatch(digest):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        return self._key("blobs", "sha256", digest.removeprefix("sha256:"))

    def _fail(self, what: str, exc: BaseException) -> OciError:
        """The OCI library's exception for a botocore one (the text redacted, never the keys)."""
        code = _error_code(exc)
        if code in _MISSING:
            return NotFoundError(self.redact(f"{what} in {self.where}: not found"), 404)
        response = getattr(exc, "response", None)
        status = None
        if isinstance(response, dict):
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        detail = f"{code}: {exc}" if code else f"{type(exc).__name__}: {exc}"
        return RegistryError(self.redact(f"{what} in {self.where}: {detail}"), status)

    def _call(self, what: str, op: Callable[[], Any]) -> Any:
        try:
            return op()
        except (OciError, ValueError):
            raise
        except Exception as exc:  # botocore, urllib3, OSError: a store that is down, never a crash
            raise self._fail(what, exc) from None

    # -- reads ------------------------------------------------------------------------------
    def _read(self, what: str, key: str, max_bytes: int, sink: Callable[[bytes], None]) -> None:
        def op() -> None:
            resp = self.s3.get_object(Bucket=self.bucket, Key=key)
            body = resp["Body"]
            try:
                length = int(resp.get("ContentLength", -1))
                if length > max_bytes:
                    raise TooLargeError(f"{what}: {length} bytes is more than the limit of {max_bytes}")
                got = 0
                for chunk in body.iter_chunks(_CHUNK):
                    got += len(chunk)
                    if got > max_bytes:
                        raise TooLargeError(f"{what}: more than the limit of {max_bytes} bytes")
                    sink(chunk)
            finally:
                body.close()

        self._call(what, op)

    def get_ref(self, name: str, *, max_bytes: int) -> Ref:
        parts: list[bytes] = []
        self._read(f"GET ref {name}", self._ref_key(name), max_bytes, parts.append)
        data = b"".join(parts)
        return Ref(data, sha256_digest(data))

    def get_blob(self, digest: str, *, max_bytes: int) -> bytes:
        parts: list[bytes] = []
        self._read(f"GET blob {digest}", self._blob_key(digest), max_bytes, parts.append)
        data = b"".join(parts)
        if sha256_digest(data) != digest:
            raise DigestMismatchError(f"GET blob {digest} from {self.where}: content does not match")
        return data

    def download_blob(self, digest: str, dest: Path, *, max_bytes: int) -> None:
        key = self._blob_key(digest)
        tmp = dest.with_name(dest.name + ".part")
        hasher = hashlib.sha256()
        try:
            with tmp.open("wb") as fh:

                def sink(chunk: bytes) -> None:
                    hasher.update(chunk)
                    fh.write(chunk)

                self._read(f"GET blob {digest}", key, max_bytes, sink)
            if "sha256:" + hasher.hexdigest() != digest:
                raise DigestMismatchError(f"GET blob {digest} from {self.where}: content does not match")
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def has_blob(self, digest: str) -> bool:
        key = self._blob_key(digest)
        try:
            self._call(f"HEAD blob {digest}", lambda: self.s3.head_object(Bucket=self.bucket, Key=key))
        except NotFoundError:
            return False
        return True

    def list_refs(self) -> list[str]:
        start = self._key("refs", "")
        names: list[str] = []

        def op() -> None:
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start)
            for page in pages:
                for item in page.get("Contents", []):
                    name = str(item["Key"])[len(start) :]
                    if _REF_NAME.fullmatch(name):  # anything else in the prefix is not ours
                        names.append(name)

        self._call("list refs", op)
        return names

    def list_blobs(self) -> list[tuple[str, float]]:
        """Every blob under the prefix with its last-modified time (for prune's sweep)."""
        start = self._key("blobs", "sha256", "")
        found: list[tuple[str, float]] = []

        def op() -> None:
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start)
            for page in pages:
                for item in page.get("Contents", []):
                    digest = "sha256:" + str(item["Key"])[len(start) :]
                    if _DIGEST.fullmatch(digest):
                        found.append((digest, item["LastModified"].timestamp()))

        self._call("list blobs", op)
        return found

    def delete_blob(self, digest: str) -> None:
        key = self._blob_key(digest)
        self._call(f"DELETE blob {digest}", lambda: self.s3.delete_object(Bucket=self.bucket, Key=key))

    # -- writes -----------------------------------------------------------------------------
    def put_ref(self, name: str, data: bytes) -> None:
        key = self._ref_key(name)
        self._call(
            f"PUT ref {name}",
            lambda: self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType="application/json"
            ),
        )

    def put_blob(self, digest: str, source: Path | bytes) -> None:
        key = self._blob_key(digest)

        def op() -> None:
            if isinstance(source, bytes):
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=source)
                return
            with source.open("rb") as fh:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=fh)

        self._call(f"PUT blob {digest}", op)

    def delete_ref(self, name: str, ref: Ref) -> None:
        key = self._ref_key(name)
        self._call(f"DELETE ref {name}", lambda: self.s3.delete_object(Bucket=self.bucket, Key=key))

    def close(self) -> None:
        close = getattr(self.s3, "close", None)
        if callable(close):
            close()
