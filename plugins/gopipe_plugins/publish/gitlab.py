"""``gitlab`` publisher: a GitLab release for the tag, its files in the generic package registry.

Documented REST calls (API v4): each asset is uploaded with ``PUT
/projects/:id/packages/generic/:name/:version/:file`` and found again through ``GET
/projects/:id/packages?package_type=generic&package_name=…&package_version=…`` and ``GET
/projects/:id/packages/:package_id/package_files`` (``file_sha256``; ``X-Next-Page`` and
``Link`` pagination); a changed file is replaced with ``DELETE
…/packages/:package_id/package_files/:file_id`` only when ``replace = true``. The release is
``GET /projects/:id/releases/:tag`` (404 = none), then ``POST /projects/:id/releases`` (409
when it exists meanwhile) or ``PUT /projects/:id/releases/:tag``, with the changelog as
description; every file becomes a release link (``GET``/``POST
…/releases/:tag/assets/links``) pointing at its package file. 429 (``Retry-After``) and 5xx
are retried through the project's one retry policy. The token (``PRIVATE-TOKEN``, or
``JOB-TOKEN`` with ``CI_JOB_TOKEN``) is sent only below ``api_url``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from gopipe import hookimpl
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.secrets import Secret
from gopipe.types import Publisher
from gopipe_oci.retry import RetryPolicy
from gopipe_plugins._common.http import (
    DELIVERED,
    Client,
    DeliveryError,
    Response,
    Verdict,
    by_status,
    snippet,
)
from gopipe_plugins._common.release_assets import DEFAULT_KINDS, Asset, release_assets, release_notes

MAX_JSON_BYTES = 8 << 20
_PATH_PART = r"[A-Za-z0-9_.-]+"


@dataclass(frozen=True)
class GitLabOptions:
    """[tool.gopipe.publish.gitlab]: a GitLab release with its files as generic packages."""

    project: str = doc("project path (group/sub/name) or numeric id; empty = from the origin remote", "")
    api_url: str = doc("API base, https://HOST/api/v4", "https://gitlab.com/api/v4")
    token: Secret = doc(
        'token with api scope, e.g. { env = "GITLAB_TOKEN" }',
        default_factory=lambda: Secret(env="GITLAB_TOKEN"),
    )
    token_header: Literal["PRIVATE-TOKEN", "JOB-TOKEN"] = doc(
        "PRIVATE-TOKEN for personal/project tokens, JOB-TOKEN for CI_JOB_TOKEN", "PRIVATE-TOKEN"
    )
    name: str = doc("release title (a template)", "{tag}")
    package_name: str = doc("generic package the files go into (a template)", "{project}")
    kinds: tuple[str, ...] = doc("artifact kinds attached", DEFAULT_KINDS)
    replace: bool = doc("replace a package file of the same name whose SHA-256 differs (else fail)", False)
    timeout: float = doc("seconds per request (uploads get ten times this)", 30.0, minimum=1)
    retry: RetryPolicy = doc("retries of 429 and 5xx", default_factory=RetryPolicy)


@dataclass
class GitLabApi:
    api: str
    header: str
    token: str
    client: Client
    upload_client: Client

    def call(
        self,
        method: str,
        url: str,
        payload: object = None,
        *,
        accept: tuple[int, ...] = (),
        body: bytes | None = None,
        upload: bool = False,
    ) -> Response:
        if not url.startswith(self.api + "/"):
            parts = urllib.parse.urlsplit(url)
            raise DeliveryError(
                f"refusing to send the token to {parts.scheme}://{parts.netloc}: not below api_url"
            )
        headers = {self.header: self.token}
        data = body
        if payload is not None:
            import json

            data = json.dumps(payload).encode("utf-8")
            headers["Content-Type"] = "application/json"
        elif body is not None:
            headers["Content-Type"] = "application/octet-stream"

        def check(resp: Response) -> Verdict:
            return DELIVERED if resp.status in accept else by_status(resp)

        return (self.upload_client if upload else self.client).send(
            method, url, data, headers=headers, check=check
        )

    def pages(self, url: str) -> Iterator[Any]:
        """Every item of a listing, page by page (``X-Next-Page``, else ``Link: rel="next"``)."""
        base = url
        for _ in range(1000):
            resp = self.call("GET", url)
            items = _json(resp)
            if not isinstance(items, list):
                raise DeliveryError(f"HTTP {resp.status}: expected a JSON list, got {type(items).__name__}")
            yield from items
            following = (resp.header("X-Next-Page") or "").strip()
            if not following.isdigit():
                return
            url = _with_page(base, following)
        raise DeliveryError("more than 1000 pages: the listing does not end")


def _with_page(url: str, page: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query["page"] = page
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _json(resp: Response) -> Any:
    data = resp.json()
    if data is None:
        raise DeliveryError(f"HTTP {resp.status}: the answer is not JSON: {snippet(resp, 120)}")
    return data


def _object(resp: Response) -> dict[str, Any]:
    data = _json(resp)
    if not isinstance(data, dict):
        raise DeliveryError(f"HTTP {resp.status}: expected a JSON object, got {type(data).__name__}")
    return data


def project_id(ctx: ProviderContext[GitLabOptions]) -> str:
    """The project as the API names it: a numeric id, or the URL-encoded path."""
    value = ctx.options.project
    if not value:
        remote = ctx.git.remote_url or ""
        path = urllib.parse.urlsplit(remote).path.strip("/") if remote.startswith("https://") else ""
        value = path.removesuffix(".git")
    parts = value.split("/")
    if not value or not all(
        p and p not in (".", "..") and urllib.parse.quote(p, safe="-_.") == p for p in parts
    ):
        ctx.fail(
            f"project {value[:100]!r} is not a GitLab project path or id; "
            "set project in [tool.gopipe.publish.gitlab]"
        )
    return urllib.parse.quote(value, safe="")


def run(ctx: ProviderContext[GitLabOptions]) -> None:
    opts = ctx.options
    tag = ctx.git.tag
    if not tag:
        ctx.fail("no tag to publish (the release checks HEAD is a version tag)")
    if urllib.parse.urlsplit(opts.api_url).scheme not in ("http", "https"):
        ctx.fail("api_url is not an http(s) URL")
    project = project_id(ctx)
    try:
        token = opts.token.reveal()
    except LookupError as exc:
        ctx.fail(f"no GitLab token: {exc}")
    ctx.add_secret(token)
    package = ctx.render(opts.package_name, key="package_name").replace("/", "-")
    assets = release_assets(ctx, opts.kinds)
    stop = ctx.tracker.cancelled
    api = GitLabApi(
        opts.api_url.rstrip("/"),
        opts.token_header,
        token,
        Client("gitlab", opts.retry, ctx.log, opts.timeout, stop, max_body=MAX_JSON_BYTES),
        Client("gitlab-upload", opts.retry, ctx.log, opts.timeout * 10, stop, max_body=MAX_JSON_BYTES),
    )
    base = f"{api.api}/projects/{project}"
    try:
        uploaded, skipped = sync_packages(ctx, api, base, package, assets)
        created = ensure_release(ctx, api, base, tag)
        links = sync_links(api, base, tag, package, ctx.git.version, assets)
    except DeliveryError as exc:
        ctx.fail(ctx.redact(f"GitLab: {exc}"))
    ctx.add_artifact(
        "release",
        tag,
        provider_name="gitlab",
        project=urllib.parse.unquote(project),
        package=package,
        created=created,
        assets=[a.name for a in assets],
        uploaded=uploaded,
        skipped=skipped,
        links_added=links,
    )
    verb = "created" if created else "updated"
    ctx.summary = f"gitlab: {verb} {tag}; {len(uploaded)} uploaded, {len(skipped)} unchanged"


def _file_url(base: str, package: str, version: str, name: str) -> str:
    quote = urllib.parse.quote
    return (
        f"{base}/packages/generic/{quote(package, safe='')}/{quote(version, safe='')}/{quote(name, safe='')}"
    )


def sync_packages(
    ctx: ProviderContext[GitLabOptions], api: GitLabApi, base: str, package: str, assets: list[Asset]
) -> tuple[list[str], list[str]]:
    """Upload each file into the generic package; skip same SHA-256; replace or fail the rest."""
    version = ctx.git.version
    query = urllib.parse.urlencode(
        {"package_type": "generic", "package_name": package, "package_version": version, "per_page": "100"}
    )
    existing: dict[str, tuple[int, dict[str, Any]]] = {}
    for pkg in api.pages(f"{base}/packages?{query}"):
        if not isinstance(pkg, dict) or pkg.get("name") != package or pkg.get("version") != version:
            continue
        pid = pkg.get("id")
        if not isinstance(pid, int) or isinstance(pid, bool):
            raise DeliveryError("a package in the listing has no usable id")
        for f in api.pages(f"{base}/packages/{pid}/package_files?per_page=100"):
            if isinstance(f, dict):
                existing[str(f.get("file_name"))] = (pid, f)
    uploaded: list[str] = []
    skipped: list[str] = []
    for asset in assets:
        there = existing.get(asset.name)
        if there is not None:
            pid, info = there
            if str(info.get("file_sha256") or "").lower() == asset.sha256:
                ctx.log(f"{asset.name}: already in package {package} {version} with the same sha256; skipped")
                skipped.append(asset.name)
                continue
            if not ctx.options.replace:
                raise DeliveryError(
                    f"{asset.name} is already in package {package} {version} with another sha256; "
                    "set replace = true to replace it"
                )
            fid = info.get("id")
            if not isinstance(fid, int) or isinstance(fid, bool):
                raise DeliveryError(f"{asset.name}: the package file has no usable id")
            api.call("DELETE", f"{base}/packages/{pid}/package_files/{fid}", accept=(204, 404))
        api.call(
            "PUT", _file_url(base, package, version, asset.name), body=asset.path.read_bytes(), upload=True
        )
        ctx.log(f"{asset.name}: uploaded to package {package} {version}")
        uploaded.append(asset.name)
    return uploaded, skipped


def ensure_release(ctx: ProviderContext[GitLabOptions], api: GitLabApi, base: str, tag: str) -> bool:
    """Create the release of ``tag`` or update its name and notes; True when created."""
    quoted = urllib.parse.quote(tag, safe="")
    payload = {"name": ctx.render(ctx.options.name, key="name"), "description": release_notes(ctx)}
    found = api.call("GET", f"{base}/releases/{quoted}", accept=(404,))
    if found.status == 404:
        made = api.call("POST", f"{base}/releases", {"tag_name": tag, **payload}, accept=(409,))
        if made.status != 409:
            _object(made)
            return True
    api.call("PUT", f"{base}/releases/{quoted}", payload)
    return False


def sync_links(
    api: GitLabApi, base: str, tag: str, package: str, version: str, assets: list[Asset]
) -> list[str]:
    """A release link per file, to its package file; existing links of the same name stay."""
    quoted = urllib.parse.quote(tag, safe="")
    links_url = f"{base}/releases/{quoted}/assets/links"
    have = {
        str(link.get("name")) for link in api.pages(f"{links_url}?per_page=100") if isinstance(link, dict)
    }
    added = []
    for asset in assets:
        if asset.name in have:
            continue
        url = _file_url(base, package, version, asset.name)
        api.call(
            "POST",
            links_url,
            {"name": asset.name, "url": url, "direct_asset_path": f"/{asset.name}", "link_type": "package"},
        )
        added.append(asset.name)
    return added


@hookimpl
def gopipe_publishers() -> list[Publisher[GitLabOptions]]:
    return [
        Publisher(
            name="gitlab",
            run=run,
            options=GitLabOptions,
            description="GitLab release, its files in the generic package registry",
        )
    ]
