"""``github`` publisher: a GitHub (or GitHub Enterprise) release for the tag, with every asset.

The REST calls are the documented ones: ``GET /repos/{o}/{r}/releases/tags/{tag}`` finds a
published release, ``GET /repos/{o}/{r}/releases`` (``Link`` pagination) a draft, ``POST
/repos/{o}/{r}/releases`` creates one and ``PATCH /repos/{o}/{r}/releases/{id}`` updates it;
assets are listed with ``GET …/releases/{id}/assets``, deleted with ``DELETE
…/releases/assets/{id}`` and uploaded to the release's ``upload_url`` (``uploads.github.com``,
or ``/api/uploads`` on Enterprise) with ``name`` and ``label``. Re-runs are idempotent: an
asset already there with the same SHA-256 (GitHub's ``digest``) is
skipped, a different one fails unless ``replace = true``. 429, 5xx and the secondary rate
limit (403 with ``retry-after``, or ``x-ratelimit-remaining: 0`` until ``x-ratelimit-reset``)
are retried through the project's one retry policy. The token is sent only to the API and
upload bases configured here, never to a URL a response names elsewhere.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from gopipe import hookimpl
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.secrets import Secret
from gopipe.types import Publisher
from gopipe.versions import parse_version_tag
from gopipe_oci.retry import RetryPolicy
from gopipe_plugins._common.http import (
    DELIVERED,
    Client,
    DeliveryError,
    Response,
    Verdict,
    by_status,
    retry,
    server_delay,
    snippet,
)
from gopipe_plugins._common.release_assets import DEFAULT_KINDS, Asset, release_assets, release_notes

#: a JSON answer larger than this is not one GitHub gives; reading it would only fill memory
MAX_JSON_BYTES = 8 << 20
_LINK_NEXT = re.compile(r'<([^<>]+)>\s*;\s*rel="?next"?')
_REPO = re.compile(r"^https?://[^/]+(?:/[^/]+)*?/(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+)$")
_NAME_PART = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


@dataclass(frozen=True)
class GitHubOptions:
    """[tool.gopipe.publish.github]: the release of the tag on GitHub or GitHub Enterprise."""

    owner: str = doc("repository owner; empty = from the origin remote", "")
    repo: str = doc("repository name; empty = from the origin remote", "")
    api_url: str = doc(
        "REST API base: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise",
        "https://api.github.com",
    )
    upload_url: str = doc(
        "asset upload base; empty = uploads.github.com, or HOST/api/uploads for Enterprise", ""
    )
    token: Secret = doc(
        'token with contents: write, e.g. { env = "GITHUB_TOKEN" }',
        default_factory=lambda: Secret(env="GITHUB_TOKEN"),
    )
    name: str = doc("release title (a template)", "{tag}")
    draft: bool = doc("create the release as a draft", False)
    prerelease: Literal["auto", "true", "false"] = doc(
        "mark as pre-release: 'auto' = when the tag is a semver pre-release (v1.2.0-rc.1)", "auto"
    )
    make_latest: Literal["true", "false", "legacy"] = doc("GitHub's make_latest for the release", "true")
    kinds: tuple[str, ...] = doc("artifact kinds attached as assets", DEFAULT_KINDS)
    replace: bool = doc("replace an asset of the same name whose SHA-256 differs (else fail)", False)
    timeout: float = doc("seconds per request (uploads get ten times this)", 30.0, minimum=1)
    retry: RetryPolicy = doc("retries of 429, 5xx and rate limits", default_factory=RetryPolicy)


@dataclass
class GitHubApi:
    """The few REST calls a release needs, with the token sent only below the two bases."""

    api: str
    uploads: str
    token: str
    client: Client
    upload_client: Client
    calls: dict[str, int] = field(default_factory=dict)

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            **(extra or {}),
        }

    def _ours(self, url: str) -> bool:
        return any(url.startswith(base.rstrip("/") + "/") for base in (self.api, self.uploads))

    def call(
        self,
        method: str,
        url: str,
        payload: object = None,
        *,
        accept: tuple[int, ...] = (),
        body: bytes | None = None,
        content_type: str = "",
        client: Client | None = None,
    ) -> Response:
        """One request; statuses in ``accept`` are answers, not failures (404 when looking)."""
        if not self._ours(url):
            where = _where(url)
            raise DeliveryError(f"refusing to send the token to {where}: not below the API or upload base")
        self.calls[method] = self.calls.get(method, 0) + 1
        data = body
        headers = self.headers()
        if payload is not None:
            import json

            data = json.dumps(payload).encode("utf-8")
            headers["Content-Type"] = "application/json"
        elif content_type:
            headers["Content-Type"] = content_type
        return (client or self.client).send(method, url, data, headers=headers, check=_verdict(accept))

    def pages(self, url: str) -> Iterator[Any]:
        """Every item of a listing, following ``Link: <…>; rel="next"``."""
        seen = 0
        next_url: str | None = url
        while next_url:
            resp = self.call("GET", next_url)
            items = _json(resp)
            if not isinstance(items, list):
                got = type(items).__name__
                raise DeliveryError(f"GET {_where(next_url)}: expected a JSON list, got {got}")
            yield from items
            seen += 1
            if seen > 1000:
                raise DeliveryError("more than 1000 pages: the Link header does not end")
            match = _LINK_NEXT.search(resp.header("Link") or "")
            next_url = urllib.parse.urljoin(next_url, match[1]) if match else None


def _verdict(accept: tuple[int, ...]) -> Any:
    def check(resp: Response) -> Verdict:
        if resp.status in accept:
            return DELIVERED
        if resp.status == 403 or resp.status == 429:
            delay = server_delay(resp)
            remaining = resp.header("x-ratelimit-remaining")
            if delay is None and remaining == "0":
                reset = resp.header("x-ratelimit-reset") or ""
                delay = max(0.0, float(reset) - time.time()) if reset.isdigit() else None
            if delay is not None or remaining == "0" or resp.status == 429:
                return retry(f"HTTP {resp.status} rate limited: {snippet(resp)}", delay)
        return by_status(resp)

    return check


def _json(resp: Response) -> Any:
    data = resp.json()
    if data is None:
        raise DeliveryError(f"HTTP {resp.status}: the answer is not JSON: {snippet(resp, 120)}")
    return data


def _where(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def repository(ctx: ProviderContext[GitHubOptions]) -> tuple[str, str]:
    """``owner``/``repo`` from the options, else from the origin remote."""
    owner, repo = ctx.options.owner, ctx.options.repo
    if not (owner and repo):
        match = _REPO.match(ctx.git.remote_url or "")
        if match is None:
            ctx.fail("no GitHub repository: set owner and repo in [tool.gopipe.publish.github]")
        owner, repo = owner or match["owner"], repo or match["repo"]
    for key, value in (("owner", owner), ("repo", repo)):
        if not _NAME_PART.fullmatch(value) or value in (".", ".."):
            ctx.fail(f"{key} {value[:100]!r} is not a GitHub name (letters, digits, '-', '_', '.')")
    return owner, repo


def upload_base(opts: GitHubOptions) -> str:
    """Where assets go: the option, uploads.github.com, or Enterprise's ``/api/uploads``."""
    if opts.upload_url:
        return opts.upload_url.rstrip("/")
    api = opts.api_url.rstrip("/")
    if api.endswith("/api/v3"):
        return api.removesuffix("/api/v3") + "/api/uploads"
    return "https://uploads.github.com"


def run(ctx: ProviderContext[GitHubOptions]) -> None:
    opts = ctx.options
    tag = ctx.git.tag
    if not tag:
        ctx.fail("no tag to publish (the release checks HEAD is a version tag)")
    for base, key in ((opts.api_url, "api_url"), (opts.upload_url, "upload_url")):
        if base and urllib.parse.urlsplit(base).scheme not in ("http", "https"):
            ctx.fail(f"{key} is not an http(s) URL")
    owner, repo = repository(ctx)
    try:
        token = opts.token.reveal()
    except LookupError as exc:
        ctx.fail(f"no GitHub token: {exc}")
    ctx.add_secret(token)
    assets = release_assets(ctx, opts.kinds)
    stop = ctx.tracker.cancelled
    api = GitHubApi(
        api=opts.api_url.rstrip("/"),
        uploads=upload_base(opts),
        token=token,
        client=Client("github", opts.retry, ctx.log, opts.timeout, stop, max_body=MAX_JSON_BYTES),
        upload_client=Client(
            "github-upload", opts.retry, ctx.log, opts.timeout * 10, stop, max_body=MAX_JSON_BYTES
        ),
    )
    try:
        release, created = ensure_release(ctx, api, owner, repo, tag)
        uploaded, skipped, replaced = sync_assets(ctx, api, owner, repo, release, assets)
    except DeliveryError as exc:
        ctx.fail(ctx.redact(f"GitHub: {exc}"))
    url = str(release.get("html_url") or "")
    ctx.add_artifact(
        "release",
        tag,
        provider_name="github",
        url=url,
        id=release.get("id"),
        created=created,
        assets=[a.name for a in assets],
        uploaded=uploaded,
        skipped=skipped,
        replaced=replaced,
    )
    verb = "created" if created else "updated"
    ctx.summary = f"github: {verb} {tag}; {len(uploaded)} uploaded, {len(skipped)} unchanged"


def release_payload(ctx: ProviderContext[GitHubOptions], tag: str) -> dict[str, Any]:
    opts = ctx.options
    parsed = parse_version_tag(tag, _prefix(tag))
    pre = (parsed.prerelease if parsed else False) if opts.prerelease == "auto" else opts.prerelease == "true"
    return {
        "tag_name": tag,
        "target_commitish": ctx.git.sha,
        "name": ctx.render(opts.name, key="name"),
        "body": release_notes(ctx),
        "draft": opts.draft,
        "prerelease": pre,
        "make_latest": "false" if pre else opts.make_latest,
    }


def _prefix(tag: str) -> str:
    return tag.rsplit("/", 1)[0] if "/" in tag else ""


def ensure_release(
    ctx: ProviderContext[GitHubOptions], api: GitHubApi, owner: str, repo: str, tag: str
) -> tuple[dict[str, Any], bool]:
    """The release of ``tag``, created or brought up to date; and whether it was created."""
    base = f"{api.api}/repos/{owner}/{repo}/releases"
    payload = release_payload(ctx, tag)
    found = find_release(api, base, tag)
    if found is None:
        resp = api.call("POST", base, payload, accept=(422,))
        if resp.status != 422:
            return _object(resp), True
        if not _already_exists(resp):
            raise DeliveryError(f"POST {_where(base)}: HTTP 422: {snippet(resp)}")
        found = find_release(api, base, tag)  # created meanwhile by another run
        if found is None:
            raise DeliveryError(f"GitHub says a release of {tag} exists, but it cannot be found")
    ctx.log(f"release {tag} exists (id {found.get('id')}); updating it")
    resp = api.call("PATCH", f"{base}/{_id(found)}", {k: v for k, v in payload.items() if k != "tag_name"})
    return _object(resp), False


def find_release(api: GitHubApi, base: str, tag: str) -> dict[str, Any] | None:
    """A published release by tag; a draft (which that endpoint hides) from the listing."""
    resp = api.call("GET", f"{base}/tags/{urllib.parse.quote(tag, safe='')}", accept=(404,))
    if resp.status != 404:
        return _object(resp)
    for item in api.pages(f"{base}?per_page=100"):
        if isinstance(item, dict) and item.get("tag_name") == tag:
            return item
    return None


def sync_assets(
    ctx: ProviderContext[GitHubOptions],
    api: GitHubApi,
    owner: str,
    repo: str,
    release: dict[str, Any],
    assets: list[Asset],
) -> tuple[list[str], list[str], list[str]]:
    """Upload what is missing; skip what is there with the same SHA-256; replace or fail the rest."""
    release_id = _id(release)
    listing = f"{api.api}/repos/{owner}/{repo}/releases/{release_id}/assets?per_page=100"
    existing = {str(a.get("name")): a for a in api.pages(listing) if isinstance(a, dict)}
    fallback = f"{api.uploads}/repos/{owner}/{repo}/releases/{release_id}/assets"
    template = str(release.get("upload_url") or fallback)
    target = template.split("{", 1)[0]
    uploaded: list[str] = []
    skipped: list[str] = []
    replaced: list[str] = []
    for asset in assets:
        there = existing.get(asset.name)
        if there is not None:
            digest = remote_sha256(there)
            if digest == asset.sha256:
                ctx.log(f"{asset.name}: already on the release with the same sha256; skipped")
                skipped.append(asset.name)
                continue
            if not ctx.options.replace:
                raise DeliveryError(
                    f"{asset.name} is already on the release with another sha256 "
                    f"({(digest or 'unknown')[:12]}… here {asset.sha256[:12]}…); "
                    "set replace = true to replace it"
                )
            gone = f"{api.api}/repos/{owner}/{repo}/releases/assets/{_id(there)}"
            api.call("DELETE", gone, accept=(204, 404))
            replaced.append(asset.name)
        query = urllib.parse.urlencode({"name": asset.name, "label": asset.name})
        resp = api.call(
            "POST",
            f"{target}?{query}",
            body=asset.path.read_bytes(),
            content_type="application/octet-stream",
            client=api.upload_client,
            accept=(422,),
        )
        if resp.status == 422:
            raise DeliveryError(f"{asset.name}: upload refused: HTTP 422: {snippet(resp)}")
        ctx.log(f"{asset.name}: uploaded ({asset.size} bytes)")
        uploaded.append(asset.name)
    return uploaded, skipped, replaced


def remote_sha256(there: dict[str, Any]) -> str | None:
    """The SHA-256 GitHub records for an asset (its ``digest``), or None when it names none.

    The bytes are not downloaded instead: the download redirects to another host, and the
    token must not follow it there.
    """
    digest = str(there.get("digest") or "")
    return digest.removeprefix("sha256:").lower() if digest.startswith("sha256:") else None


def _object(resp: Response) -> dict[str, Any]:
    data = _json(resp)
    if not isinstance(data, dict):
        raise DeliveryError(f"HTTP {resp.status}: expected a JSON object, got {type(data).__name__}")
    return data


def _id(obj: dict[str, Any]) -> int:
    value = obj.get("id")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DeliveryError(f"the answer has no usable id: {str(value)[:40]!r}")
    return value


def _already_exists(resp: Response) -> bool:
    data = resp.json()
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return False
    return any(isinstance(e, dict) and e.get("code") == "already_exists" for e in errors)


@hookimpl
def gopipe_publishers() -> list[Publisher[GitHubOptions]]:
    return [
        Publisher(
            name="github",
            run=run,
            options=GitHubOptions,
            description="GitHub (Enterprise) release with every archive, checksum, SBOM and package",
        )
    ]
