"""The one interface every remote-cache backend offers: named refs and content-addressed blobs.

The stage store, the Go cache program and prune speak only this, so an OCI repository
(:class:`OciStore`) and an S3 bucket (:class:`gopipe.remote_cache.s3store.S3Store`) hold the
same entries in the same format: a *ref* is a small JSON document under a name
(``stage-build-<fingerprint>``, ``go-<action>``) and a *blob* is content named by its sha256.
Every blob read is verified against its digest by the store, and again by its callers.

Failures are the OCI library's exceptions whatever the backend (the OCI store came first):
:class:`~gopipe_oci.NotFoundError` is a miss, :class:`~gopipe_oci.TooLargeError` and
:class:`~gopipe_oci.DigestMismatchError` a rejected entry, any other
:class:`~gopipe_oci.OciError` a store that is down.

This module is imported by the Go cache program, which starts once per ``go`` command, so it
imports the OCI library and boto3 only when a store is opened.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from gopipe_oci import Credentials, RegistryClient

MEDIA_EMPTY = "application/vnd.oci.empty.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY_CONFIG = b"{}"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


@dataclass(frozen=True)
class Ref:
    """A ref's exact bytes and their digest (what prune deletes by)."""

    data: bytes
    digest: str

    def json(self) -> Any:
        return json.loads(self.data)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Store(Protocol):
    """Where cache entries live; one instance per thread."""

    where: str  # for log lines: ``oci://host/repo`` or ``s3://bucket/prefix``

    def get_ref(self, name: str, *, max_bytes: int) -> Ref: ...
    def put_ref(self, name: str, data: bytes) -> None: ...
    def delete_ref(self, name: str, ref: Ref) -> None: ...
    def list_refs(self) -> list[str]: ...
    def has_blob(self, digest: str) -> bool: ...
    def put_blob(self, digest: str, source: Path | bytes) -> None: ...
    def get_blob(self, digest: str, *, max_bytes: int) -> bytes: ...
    def download_blob(self, digest: str, dest: Path, *, max_bytes: int) -> None: ...
    def close(self) -> None: ...


class OciStore:
    """A repository of an OCI registry: refs are tagged image manifests, blobs are blobs."""

    def __init__(self, client: RegistryClient, repository: str, where: str) -> None:
        self.client = client
        self.repo = repository
        self.where = where
        self._config_ready = False

    def get_ref(self, name: str, *, max_bytes: int) -> Ref:
        got = self.client.get_manifest(self.repo, name, max_bytes=max_bytes)
        return Ref(got.data, got.digest)

    def put_ref(self, name: str, data: bytes) -> None:
        if not self._config_ready:  # every cache manifest points at the two-byte ``{}`` config
            if not self.client.blob_exists(self.repo, EMPTY_DIGEST):
                self.client.upload_blob(self.repo, EMPTY_DIGEST, EMPTY_CONFIG)
            self._config_ready = True
        self.client.put_manifest(self.repo, name, data, MEDIA_MANIFEST)

    def delete_ref(self, name: str, ref: Ref) -> None:
        self.client.delete_manifest(self.repo, ref.digest)

    def list_refs(self) -> list[str]:
        return self.client.list_tags(self.repo)

    def has_blob(self, digest: str) -> bool:
        return self.client.blob_exists(self.repo, digest)

    def put_blob(self, digest: str, source: Path | bytes) -> None:
        self.client.upload_blob(self.repo, digest, source)

    def get_blob(self, digest: str, *, max_bytes: int) -> bytes:
        return self.client.get_blob(self.repo, digest, max_bytes=max_bytes)

    def download_blob(self, digest: str, dest: Path, *, max_bytes: int) -> None:
        self.client.download_blob(self.repo, digest, dest, max_bytes=max_bytes)

    def close(self) -> None:
        self.client.close()


def _oci_credentials(settings: Mapping[str, Any], env: Mapping[str, str]) -> Credentials | None:
    from gopipe_oci import Credentials

    if settings.get("password_env"):
        value = env.get(str(settings["password_env"]), "")
    elif settings.get("password_file"):
        value = Path(str(settings["password_file"])).read_text().strip()
    else:
        return None
    if not value:
        raise LookupError("the cache password is not set")
    return Credentials(str(settings.get("username", "")), value)


def open_store(
    settings: Mapping[str, Any],
    env: Mapping[str, str],
    redact: Callable[[str], str] = lambda s: s,
    *,
    oci_credentials: Credentials | None = None,
) -> Store:
    """The store a :class:`~gopipe.remote_cache.connection.Connection` (as a dict) names.

    Raises LookupError when the OCI password is missing and OciError when the S3 backend
    cannot be loaded (boto3 not installed): both mean "no remote cache for this run".
    """
    scheme = str(settings.get("scheme") or "oci")
    if scheme == "s3":
        from gopipe.remote_cache.s3store import S3Store

        return S3Store.from_settings(settings, env, redact)
    from gopipe_oci import RegistryClient, RetryPolicy

    creds = oci_credentials if oci_credentials is not None else _oci_credentials(settings, env)
    host, repo = str(settings["host"]), str(settings["repository"])
    client = RegistryClient(
        host,
        credentials=creds,
        use_docker_config=creds is None,
        insecure=bool(settings.get("insecure")),
        plain_http=bool(settings.get("plain_http")),
        ca_file=Path(str(settings["ca_file"])) if settings.get("ca_file") else None,
        retry=RetryPolicy(
            max_attempts=int(settings.get("max_attempts", 2)),
            budget=int(settings.get("retry_budget", 4)),
            base_delay=0.2,
            max_delay=1.0,
        ),
        timeout=float(settings.get("timeout", 10.0)),
        redact=redact,
    )
    scheme_name = "oci+http" if settings.get("plain_http") else "oci"
    return OciStore(client, repo, f"{scheme_name}://{host}/{repo}")
