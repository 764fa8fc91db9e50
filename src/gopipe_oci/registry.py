"""OCI distribution client: push/pull of OCI layouts, manifests and blobs.

Evaluated first: the ``oras`` Python SDK (0.2.x). It was not used because

* ``upload_manifest`` re-serialises the manifest (``json=manifest``) and only knows the image
  manifest media type, so an image index cannot be pushed and the pushed bytes (hence the
  digest) differ from the locally built ones, which defeats reproducible digests;
* its retry decorator retries only HTTP 500 and exceptions, 5 times with fixed ``2 + 3**n``
  second sleeps (no jitter, no budget, no 429/502/503), and its error messages embed request
  URLs;
* it is untyped and pulls in ``jsonschema``/``requests``.

So this is a small client on ``http.client`` (see :mod:`.transport`): Basic and Bearer auth
(:mod:`.auth`), HEAD-before-upload, monolithic uploads (POST, then PUT ``?digest=``),
manifests pushed before the index, tags, digest verification after the push, and retries with
exponential backoff + jitter under a per-operation and a per-client budget.
"""

from __future__ import annotations

import json
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, TypeVar
from urllib.parse import urljoin

from .auth import Authenticator, Credentials, load_docker_credentials, parse_challenge
from .digest import (
    INDEX_MEDIA_TYPES,
    MANIFEST_MEDIA_TYPES,
    MEDIA_TYPE_INDEX,
    check_digest,
    sha256_digest,
)
from .errors import (
    AuthError,
    DigestMismatchError,
    NotFoundError,
    NotTLSError,
    RegistryError,
    RetryExhaustedError,
)
from .layout import REF_NAME, Descriptor, Layout, LayoutWriter
from .reference import Reference, check_tag
from .retry import RetryPolicy, sleep_backoff
from .transport import Response, TransientError, Transport, lazy_ssl_context

log = logging.getLogger(__name__)
T = TypeVar("T")

MANIFEST_ACCEPT = ", ".join((*INDEX_MEDIA_TYPES, *MANIFEST_MEDIA_TYPES))


def _identity(message: str) -> str:
    return message


@dataclass(frozen=True)
class Fetched:
    """A manifest or index as served: exact bytes, media type and digest."""

    data: bytes
    media_type: str
    digest: str

    def json(self) -> dict[str, object]:
        obj: dict[str, object] = json.loads(self.data)
        return obj


@dataclass(frozen=True)
class PushResult:
    """Outcome of a complete, verified push (a failed push raises instead)."""

    repository: str
    digest: str
    media_type: str
    tags: tuple[str, ...]
    uploaded: int
    skipped: int
    uploaded_bytes: int
    manifests: int
    retries: int
    mounted: int = 0  # blobs mounted from another repository of the registry (not sent)

    def reference(self) -> str:
        return f"{self.repository}@{self.digest}"


@dataclass(frozen=True)
class PullResult:
    layout: Path
    digest: str
    media_type: str
    blobs: int


class RegistryClient:
    """A client for one registry host (``host[:port]``).

    *credentials* default to the Docker config entry for the host (``use_docker_config``).
    ``insecure=True`` accepts any TLS certificate and falls back to plain HTTP when the server
    does not speak TLS; ``plain_http=True`` goes straight to HTTP (both meant for loopback
    registries). *ca_file* is a CA bundle trusted in addition to the system store.
    A client is not thread-safe: use one per thread.
    Every error and log message passes through *redact*.
    """

    def __init__(
        self,
        registry: str,
        *,
        credentials: Credentials | None = None,
        use_docker_config: bool = True,
        docker_config: Path | None = None,
        insecure: bool = False,
        plain_http: bool = False,
        ca_file: Path | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        redact: Callable[[str], str] = _identity,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if credentials is None and use_docker_config:
            credentials = load_docker_credentials(registry, docker_config)
        self.registry = registry
        self.insecure = insecure
        self.plain_http = plain_http
        self.retry = retry or RetryPolicy()
        self.redact = redact
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.transport = Transport(lazy_ssl_context(ca_file, insecure), timeout)
        self.auth = Authenticator(registry, credentials, self.transport, redact)
        self._origin: str | None = None
        # repositories being pushed: ask for pull,push tokens up front, even for HEADs
        self._push_repos: set[str] = set()
        self.retries = 0
        self.requests = 0

    # -- plumbing -------------------------------------------------------------------------

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    def _error(self, cls: type[RegistryError], message: str, status: int | None) -> RegistryError:
        return cls(self.redact(message), status)

    def _with_retry(self, what: str, op: Callable[[], T]) -> T:
        """Run *op*, retrying :class:`TransientError` within the per-op and client budgets."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return op()
            except TransientError as exc:
                why = self.retry.gives_up(attempt, self.retries)
                if why is not None:
                    raise RetryExhaustedError(
                        self.redact(f"{what}: giving up, {why}; last error: {exc.detail}"),
                        exc.status,
                        attempt,
                    ) from None
                self.retries += 1
                retry_after = exc.retry_after
                delay = sleep_backoff(self.retry, attempt, self._rng, retry_after, self._sleep)
                log.info(self.redact(f"{what}: {exc.detail}; retry {attempt} after {delay:.2f}s"))

    def origin(self) -> str:
        """``scheme://host``; resolved once by pinging ``/v2/`` (learns the auth scheme)."""
        if self._origin is None:
            schemes = ["https", "http"] if self.insecure else ["https"]
            if self.plain_http:
                schemes = ["http"]
            for i, scheme in enumerate(schemes):
                try:
                    origin = f"{scheme}://{self.registry}"
                    self._with_retry(f"ping {origin}", lambda: self._ping(origin))  # noqa: B023
                    self._origin = f"{scheme}://{self.registry}"
                    break
                except NotTLSError:
                    if i + 1 == len(schemes):
                        raise
        assert self._origin is not None
        return self._origin

    def _ping(self, origin: str) -> None:
        resp = self.transport.request("GET", f"{origin}/v2/")
        self.requests += 1
        if resp.status == 401:
            header = resp.header("www-authenticate")
            if header:
                self.auth.challenge = parse_challenge(header)
            return
        self._raise_transient(resp)
        if resp.status != 200:
            raise self._error(RegistryError, f"{self.registry}/v2/ answered HTTP {resp.status}", resp.status)

    def _raise_transient(self, resp: Response) -> None:
        if resp.status == 429 or resp.status >= 500:
            raise TransientError(f"HTTP {resp.status}{_codes(resp)}", resp.status, resp.header("retry-after"))

    def _request(
        self,
        what: str,
        method: str,
        url: str,
        repo: str,
        *,
        push: bool = False,
        headers: dict[str, str] | None = None,
        body: bytes | Path | None = None,
        sink: IO[bytes] | None = None,
        limit: int | None = None,
    ) -> Response:
        """One exchange with auth; raises TransientError for statuses worth retrying."""
        origin = self.origin()
        push = push or repo in self._push_repos
        if not url.startswith(("http://", "https://")):
            url = origin + url
        self.auth.prepare(repo, push)
        for attempt in (1, 2):
            auth_value = self.auth.header(repo, push)

            def auth_header(o: str, value: str | None = auth_value) -> str | None:
                return value if o == origin else None

            resp = self.transport.request(
                method, url, headers, body, sink=sink, auth_header=auth_header, limit=limit
            )
            self.requests += 1
            if resp.status != 401:
                break
            if attempt == 2 or (
                auth_value and self.auth.challenge is not None and self.auth.challenge.scheme == "basic"
            ):
                raise self._error(
                    AuthError,
                    f"{what}: {self.registry} rejected the credentials (HTTP 401{_codes(resp)})",
                    401,
                )
            self.auth.answer(resp.header("www-authenticate"), repo, push)
        if resp.status == 403:
            raise self._error(AuthError, f"{what}: access denied (HTTP 403{_codes(resp)})", 403)
        self._raise_transient(resp)
        return resp

    # -- blobs ----------------------------------------------------------------------------

    def blob_exists(self, repo: str, digest: str) -> bool:
        what = f"HEAD blob {digest} in {self.registry}/{repo}"
        url = f"/v2/{repo}/blobs/{check_digest(digest)}"

        def op() -> bool:
            resp = self._request(what, "HEAD", url, repo)
            if resp.status == 200:
                return True
            if resp.status == 404:
                return False
            raise self._error(RegistryError, f"{what}: HTTP {resp.status}", resp.status)

        return self._with_retry(what, op)

    def upload_blob(self, repo: str, digest: str, source: Path | bytes) -> None:
        """Monolithic upload: ``POST`` a session, ``PUT`` the bytes with ``?digest=``."""
        what = f"upload of blob {digest} to {self.registry}/{repo}"
        check_digest(digest)

        def op() -> None:
            resp = self._request(what, "POST", f"/v2/{repo}/blobs/uploads/", repo, push=True)
            location = resp.header("location")
            if resp.status != 202 or not location:
                raise self._error(
                    RegistryError,
                    f"{what}: starting the upload answered HTTP {resp.status}{_codes(resp)}",
                    resp.status,
                )
            url = urljoin(resp.url, location)
            url += ("&" if "?" in url else "?") + f"digest={digest}"
            resp = self._request(
                what,
                "PUT",
                url,
                repo,
                push=True,
                body=source,
                headers={"Content-Type": "application/octet-stream"},
            )
            if resp.status not in (201, 204):
                raise self._error(RegistryError, f"{what}: HTTP {resp.status}{_codes(resp)}", resp.status)
            served = resp.header("docker-content-digest")
            if served and served != digest:
                raise self._error(DigestMismatchError, f"{what}: registry stored {served}", resp.status)

        self._with_retry(what, op)

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        """Cross-repository mount (``POST …/blobs/uploads/?mount=&from=``): the registry links a
        blob it already holds into *repo* without the bytes being sent. ``False`` when it would
        not (no pull access to *from_repo*, or it does not support mounts): upload then."""
        what = f"mount of blob {digest} from {self.registry}/{from_repo} into {repo}"
        url = f"/v2/{repo}/blobs/uploads/?mount={check_digest(digest)}&from={from_repo}"

        def op() -> bool:
            resp = self._request(what, "POST", url, repo, push=True)
            if resp.status == 201:
                return True
            if resp.status == 202:  # an upload session instead of a mount; left to expire
                return False
            raise self._error(RegistryError, f"{what}: HTTP {resp.status}{_codes(resp)}", resp.status)

        return self._with_retry(what, op)

    def get_blob(self, repo: str, digest: str, *, max_bytes: int | None = None) -> bytes:
        """A blob in memory, verified; *max_bytes* bounds what is read (:class:`TooLargeError`)."""
        what = f"GET blob {digest} from {self.registry}/{repo}"
        url = f"/v2/{repo}/blobs/{check_digest(digest)}"

        def op() -> bytes:
            resp = self._request(what, "GET", url, repo, limit=max_bytes)
            self._expect_found(what, resp)
            return resp.body

        data = self._with_retry(what, op)
        if sha256_digest(data) != digest:
            raise self._error(DigestMismatchError, f"{what}: content does not match", None)
        return data

    def download_blob(self, repo: str, digest: str, dest: Path, *, max_bytes: int | None = None) -> None:
        """Stream a blob to *dest* (verified before it is renamed into place)."""
        what = f"GET blob {digest} from {self.registry}/{repo}"
        url = f"/v2/{repo}/blobs/{check_digest(digest)}"
        tmp = dest.with_name(dest.name + ".part")

        def op() -> str:
            with tmp.open("wb") as fh:
                resp = self._request(what, "GET", url, repo, sink=fh, limit=max_bytes)
            self._expect_found(what, resp)
            return resp.body_digest

        try:
            got = self._with_retry(what, op)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a refused or broken download leaves nothing behind
            raise
        if got != digest:
            tmp.unlink(missing_ok=True)
            raise self._error(DigestMismatchError, f"{what}: content does not match", None)
        os.replace(tmp, dest)

    def _expect_found(self, what: str, resp: Response) -> None:
        if resp.status == 404:
            raise self._error(NotFoundError, f"{what}: not found (HTTP 404{_codes(resp)})", 404)
        if resp.status != 200:
            raise self._error(RegistryError, f"{what}: HTTP {resp.status}{_codes(resp)}", resp.status)

    # -- manifests ------------------------------------------------------------------------

    def get_manifest(
        self, repo: str, ref: str, accept: str = MANIFEST_ACCEPT, *, max_bytes: int | None = None
    ) -> Fetched:
        what = f"GET manifest {self.registry}/{repo}{_at(ref)}"

        def op() -> Response:
            resp = self._request(
                what,
                "GET",
                f"/v2/{repo}/manifests/{ref}",
                repo,
                headers={"Accept": accept},
                limit=max_bytes,
            )
            self._expect_found(what, resp)
            return resp

        resp = self._with_retry(what, op)
        digest = sha256_digest(resp.body)
        served = resp.header("docker-content-digest")
        expected = ref if ref.startswith("sha256:") else served
        if expected and expected != digest:
            raise self._error(
                DigestMismatchError, f"{what}: content digest {digest} != {expected}", resp.status
            )
        media = (resp.header("content-type") or "").split(";")[0].strip()
        if not media or media == "application/json":
            media = str(json.loads(resp.body).get("mediaType", ""))
        return Fetched(resp.body, media, digest)

    def head_manifest(self, repo: str, ref: str, accept: str = MANIFEST_ACCEPT) -> str | None:
        """The digest the registry serves for *ref*, or ``None`` if it does not exist.

        Uses ``Docker-Content-Digest`` from a HEAD; registries that omit it get a GET and the
        digest of the body.
        """
        what = f"HEAD manifest {self.registry}/{repo}{_at(ref)}"

        def op() -> tuple[bool, str | None]:
            resp = self._request(
                what, "HEAD", f"/v2/{repo}/manifests/{ref}", repo, headers={"Accept": accept}
            )
            if resp.status == 404:
                return False, None
            self._expect_found(what, resp)
            return True, resp.header("docker-content-digest")

        found, digest = self._with_retry(what, op)
        if found and digest is None:
            digest = self.get_manifest(repo, ref, accept).digest
        return digest

    def referrers(self, repo: str, digest: str) -> list[dict[str, object]] | None:
        """The OCI 1.1 referrers of *digest* (descriptors), or ``None`` when the registry has
        no referrers API (404 or a body that is not an image index): then callers fall back
        to tag schemes."""
        what = f"GET referrers {self.registry}/{repo}@{digest}"

        def op() -> Response:
            return self._request(
                what, "GET", f"/v2/{repo}/referrers/{digest}", repo, headers={"Accept": MEDIA_TYPE_INDEX}
            )

        resp = self._with_retry(what, op)
        if resp.status != 200:
            return None
        try:
            index = json.loads(resp.body)
        except ValueError:
            return None
        if not isinstance(index, dict) or index.get("mediaType") != MEDIA_TYPE_INDEX:
            return None
        return [dict(m) for m in index.get("manifests") or [] if isinstance(m, dict)]

    def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> str:
        """PUT exact manifest bytes under a digest or tag; returns the registry's digest."""
        what = f"push of manifest {sha256_digest(data)} to {self.registry}/{repo}{_at(ref)}"
        if not ref.startswith("sha256:"):
            check_tag(ref)

        def op() -> str:
            resp = self._request(
                what,
                "PUT",
                f"/v2/{repo}/manifests/{ref}",
                repo,
                push=True,
                body=data,
                headers={"Content-Type": media_type},
            )
            if resp.status not in (200, 201):
                raise self._error(RegistryError, f"{what}: HTTP {resp.status}{_codes(resp)}", resp.status)
            return resp.header("docker-content-digest") or sha256_digest(data)

        served = self._with_retry(what, op)
        if served != sha256_digest(data):
            raise self._error(DigestMismatchError, f"{what}: registry reports {served}", None)
        return served

    def list_tags(self, repo: str, *, page: int = 1000) -> list[str]:
        """Every tag of *repo* (``/tags/list``, following ``Link`` pages); none for an unknown repo."""
        what = f"list tags of {self.registry}/{repo}"
        url: str | None = f"/v2/{repo}/tags/list?n={page}"
        tags: list[str] = []
        while url is not None:

            def op(u: str = url) -> Response:
                return self._request(what, "GET", u, repo, limit=16 << 20)

            resp = self._with_retry(what, op)
            if resp.status == 404:
                return tags
            self._expect_found(what, resp)
            tags += [str(t) for t in json.loads(resp.body).get("tags") or []]
            link = resp.header("link") or ""
            url = link.split(";")[0].strip().strip("<>") if 'rel="next"' in link else None
        return tags

    def delete_manifest(self, repo: str, digest: str) -> bool:
        """Delete a manifest by digest (every tag on it goes too); False if it was not there."""
        what = f"delete manifest {self.registry}/{repo}@{digest}"
        url = f"/v2/{repo}/manifests/{check_digest(digest)}"

        def op() -> bool:
            resp = self._request(what, "DELETE", url, repo, push=True)
            if resp.status in (200, 202):
                return True
            if resp.status == 404:
                return False
            raise self._error(RegistryError, f"{what}: HTTP {resp.status}{_codes(resp)}", resp.status)

        return self._with_retry(what, op)


def _at(ref: str) -> str:
    return f"@{ref}" if ref.startswith("sha256:") else f":{ref}"


def _codes(resp: Response) -> str:
    """``: CODE, CODE`` from a distribution error body (not the free-text messages)."""
    try:
        errors = json.loads(resp.body).get("errors") or []
        codes = [str(e.get("code")) for e in errors if isinstance(e, dict) and e.get("code")]
    except (ValueError, AttributeError):
        return ""
    return f": {', '.join(codes)}" if codes else ""


# -- layouts ------------------------------------------------------------------------------


def _client_for(target: Reference, client: RegistryClient | None) -> RegistryClient:
    if client is None:
        return RegistryClient(target.registry)
    if client.registry != target.registry:
        raise ValueError(f"client is for {client.registry}, target is {target.registry}")
    return client


def push_layout(
    layout: Path,
    target: str,
    *,
    tags: Sequence[str] = (),
    client: RegistryClient | None = None,
    ref_name: str | None = None,
    blob_sources: Mapping[str, str] | None = None,
) -> PushResult:
    """Push the image (index or manifest) of an OCI layout to ``host/repo[:tag]``.

    Blobs are HEADed first and uploaded only when missing; manifests go before the index;
    then every tag is set and read back (``Docker-Content-Digest`` must equal the local
    digest). Any failure raises; a returned result means everything is in place.

    *blob_sources* names, for blobs the layout does not hold (a base built with
    ``copy_layers=False``), the ``host/repo`` they are in: on the target's registry they are
    mounted, or fetched through the same client and uploaded when the registry will not
    mount; on another registry they are an error (the layout has to hold them).
    """
    ref = Reference.parse(target, default_tag="")
    if ref.digest:
        raise ValueError(f"push target must be host/repo[:tag], not a digest: {target}")
    all_tags = list(dict.fromkeys([*([ref.tag] if ref.tag else []), *tags]))
    for tag in all_tags:
        check_tag(tag)
    cl = _client_for(ref, client)
    lay = Layout(layout)
    top = lay.resolve(ref_name)
    retries_before = cl.retries
    cl._push_repos.add(ref.repository)

    blobs: dict[str, int] = {}
    manifests: list[tuple[Descriptor, bytes]] = []

    def walk(desc: Descriptor) -> None:
        data = lay.read_blob(desc.digest)
        obj = json.loads(data)
        media = obj.get("mediaType") or desc.media_type
        if media in INDEX_MEDIA_TYPES:
            for child in obj.get("manifests", []):
                walk(Descriptor.from_json(child))
        else:
            for blob in [obj["config"], *obj.get("layers", [])]:
                blobs[check_digest(blob["digest"])] = int(blob["size"])
        manifests.append((desc, data))

    walk(top)
    uploaded = skipped = uploaded_bytes = 0
    mounted = 0
    sources = dict(blob_sources or {})
    for digest, size in blobs.items():
        if cl.blob_exists(ref.repository, digest):
            skipped += 1
            continue
        local = lay.blob_path(digest)
        if digest in sources and not local.exists():
            if _mount_or_copy(cl, ref.repository, digest, sources[digest]):
                mounted += 1
                continue
        else:
            cl.upload_blob(ref.repository, digest, local)
        uploaded += 1
        uploaded_bytes += size
    for desc, data in manifests:
        cl.put_manifest(ref.repository, desc.digest, data, desc.media_type)
    top_data = manifests[-1][1]
    for tag in all_tags:
        cl.put_manifest(ref.repository, tag, top_data, top.media_type)
    for check in all_tags or [top.digest]:
        served = cl.head_manifest(ref.repository, check, accept=top.media_type)
        if served != top.digest:
            raise DigestMismatchError(
                cl.redact(
                    f"after pushing {cl.registry}/{ref.repository}{_at(check)} the registry serves "
                    f"{served}, expected {top.digest}"
                )
            )
    return PushResult(
        repository=f"{ref.registry}/{ref.repository}",
        digest=top.digest,
        media_type=top.media_type,
        tags=tuple(all_tags),
        uploaded=uploaded,
        skipped=skipped,
        uploaded_bytes=uploaded_bytes,
        manifests=len(manifests),
        retries=cl.retries - retries_before,
        mounted=mounted,
    )


def _mount_or_copy(cl: RegistryClient, repo: str, digest: str, source: str) -> bool:
    """Put a blob the layout does not hold into *repo* from *source* (``host/repo``) on the
    same registry: mounted (``True``), or else read from there and uploaded (``False``)."""
    host, _, from_repo = source.partition("/")
    if host != cl.registry or not from_repo:
        raise RegistryError(
            cl.redact(
                f"blob {digest} is not in the layout; it is in {source}, another registry than "
                f"{cl.registry}: build the image with its base layers copied into the layout"
            )
        )
    if from_repo != repo and cl.mount_blob(repo, digest, from_repo):
        return True
    with tempfile.TemporaryDirectory(prefix="gopipe-oci-blob-") as tmp:
        path = Path(tmp) / "blob"
        cl.download_blob(from_repo, digest, path)  # verified against the digest
        cl.upload_blob(repo, digest, path)
    return False


def pull_layout(
    source: str,
    dest: Path,
    *,
    client: RegistryClient | None = None,
    ref_name: str | None = None,
) -> PullResult:
    """Copy an image (index, manifests, blobs) from a registry into an OCI layout at *dest*."""
    ref = Reference.parse(source)
    cl = _client_for(ref, client)
    writer = LayoutWriter(dest)
    count = 0
    try:

        def fetch(digest_or_tag: str) -> Fetched:
            nonlocal count
            got = cl.get_manifest(ref.repository, digest_or_tag)
            writer.add_bytes(got.data, got.media_type)
            count += 1
            obj = json.loads(got.data)
            if got.media_type in INDEX_MEDIA_TYPES:
                for child in obj.get("manifests", []):
                    fetch(child["digest"])
            else:
                for blob in [obj["config"], *obj.get("layers", [])]:
                    path = writer.blob_path(blob["digest"])
                    if not path.exists():
                        cl.download_blob(ref.repository, blob["digest"], path)
                        count += 1
            return got

        top = fetch(ref.identifier)
        name = ref_name or ref.tag or "latest"
        writer.commit([Descriptor(top.media_type, top.digest, len(top.data), {REF_NAME: name})])
    except BaseException:
        writer.abort()
        raise
    return PullResult(dest, top.digest, top.media_type, count)
