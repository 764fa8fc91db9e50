"""``harbor`` uploader: the ``registry`` push plus Harbor's REST API v2.0.

Around the push (which is the plain distribution API under ``/v2/``):

* the Harbor *project* (first repository component) is created when missing
  (``HEAD /projects?project_name=``, ``POST /projects``);
* optionally a short-lived project robot account is created for the push
  (``POST /robots``, deleted afterwards), so the configured user only talks to the API and
  the data path uses least-privilege credentials;
* optionally a vulnerability scan gate: ``POST .../artifacts/{digest}/scan``, poll
  ``GET .../artifacts/{digest}?with_scan_overview=true`` until ``scan_status`` is final, fail
  when the overview's ``severity`` is at or above ``fail_on_severity``. A gated image is not
  recorded as an ``image-ref``, so deploy cannot pick it up.

The REST client is a few calls on the OCI library's HTTP transport (same TLS, CA, redaction
and retry behaviour as the push) rather than a generated Harbor SDK.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlencode

from gopipe import hookimpl
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.errors import StageFailed
from gopipe.secrets import clip
from gopipe.types import Uploader
from gopipe_oci import Credentials, RetryPolicy, load_docker_credentials
from gopipe_oci.retry import sleep_backoff
from gopipe_oci.transport import Response, TransientError, Transport, lazy_ssl_context
from gopipe_plugins._common.registry_access import (
    Value,
    connect,
    credentials,
    library_logs,
    option_key,
    resolve,
)
from gopipe_plugins.upload.image_push import (
    Pushed,
    RegistryOptions,
    push_image,
    pushable_images,
    record,
    render_repository,
    render_tags,
    summary,
)

Severity = Literal["none", "low", "medium", "high", "critical"]
# Harbor's severities, lowest first ("None" = scanned, nothing found).
SEVERITIES = ("none", "unknown", "negligible", "low", "medium", "high", "critical")
SCAN_DONE = {"success", "error", "stopped"}
_RNG = random.Random()
VULN_REPORT_TYPES = (
    "application/vnd.security.vulnerability.report; version=1.1, "
    "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
)


@dataclass(frozen=True)
class HarborOptions(RegistryOptions):
    """Harbor: push like `registry`, create the project, optional robot account and scan gate."""

    CONFIG_KEY: ClassVar[str] = "tool.gopipe.upload.harbor"

    api_url: Value = doc("Harbor base URL for the REST API (default: https://<registry>)", "")
    create_project: bool = doc("create the Harbor project when it does not exist", True)
    public: bool = doc("make a created project public", False)
    robot_account: bool = doc("push with a temporary project robot account (deleted afterwards)", False)
    scan: bool = doc("trigger a vulnerability scan after the push and wait for it", False)
    fail_on_severity: Severity = doc(
        "fail when the scan finds this severity or worse ('none' = never fail)", "high"
    )
    scan_timeout: float = doc("seconds to wait for a scan", 600.0)
    scan_interval: float = doc("seconds between scan status polls", 3.0)


class HarborError(StageFailed):
    """A Harbor API call failed; the message names the call and status, never credentials."""


@dataclass
class HarborApi:
    """The handful of Harbor v2.0 endpoints gopipe uses (HTTP Basic auth, JSON)."""

    base: str  # https://harbor.example.com
    creds: Credentials | None
    transport: Transport
    retry: RetryPolicy
    redact: Any
    retries: int = 0  # retries so far, against retry.budget

    def _call(
        self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None
    ) -> Response:
        url = f"{self.base}/api/v2.0{path}"
        hdrs = {"Accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        origin = self.base
        creds = self.creds

        def auth(o: str) -> str | None:
            return creds.basic() if creds and o == origin else None

        what = f"Harbor {method} {path.split('?')[0]}"
        attempt = 0
        while True:
            attempt += 1
            retry_after = None
            try:
                resp = self.transport.request(method, url, hdrs, data, auth_header=auth)
            except TransientError as exc:
                detail = exc.detail
            else:
                if resp.status < 500 and resp.status != 429:
                    return resp
                detail, retry_after = f"HTTP {resp.status}", resp.header("retry-after")
            why = self.retry.gives_up(attempt, self.retries)
            if why is not None:
                raise HarborError(self.redact(f"{what}: giving up, {why}: {detail}"))
            self.retries += 1
            sleep_backoff(self.retry, attempt, _RNG, retry_after)

    def _expect(self, resp: Response, what: str, *ok: int) -> Response:
        if resp.status in ok:
            return resp
        hint = {401: " (check username/password)", 403: " (the user lacks permission)"}.get(resp.status, "")
        raise HarborError(self.redact(f"Harbor {what}: HTTP {resp.status}{hint}{_message(resp)}"))

    def project_exists(self, project: str) -> bool:
        resp = self._call("HEAD", "/projects?" + urlencode({"project_name": project}))
        if resp.status == 200:
            return True
        if resp.status == 404:
            return False
        self._expect(resp, f"checking project {project}")
        return False

    def create_project(self, project: str, public: bool) -> bool:
        """Create *project*; ``False`` when someone else created it first (409)."""
        resp = self._call(
            "POST", "/projects", {"project_name": project, "metadata": {"public": str(public).lower()}}
        )
        if resp.status == 409:
            return False
        self._expect(resp, f"creating project {project}", 201)
        return True

    def create_robot(self, project: str, name: str) -> tuple[int, Credentials]:
        body = {
            "name": name,
            "description": "gopipe upload (temporary)",
            "level": "project",
            "duration": 1,
            "disable": False,
            "permissions": [
                {
                    "kind": "project",
                    "namespace": project,
                    "access": [
                        {"resource": "repository", "action": "push"},
                        {"resource": "repository", "action": "pull"},
                    ],
                }
            ],
        }
        resp = self._expect(self._call("POST", "/robots", body), f"creating a robot in {project}", 201)
        data = json.loads(resp.body)
        return int(data["id"]), Credentials(str(data["name"]), str(data["secret"]))

    def delete_robot(self, robot_id: int) -> None:
        self._expect(self._call("DELETE", f"/robots/{robot_id}"), "deleting the robot", 200, 404)

    def _artifact_path(self, project: str, repository: str, reference: str) -> str:
        # a repository name containing "/" is URL-encoded twice, as Harbor documents
        repo = quote(quote(repository, safe=""), safe="")
        return f"/projects/{quote(project, safe='')}/repositories/{repo}/artifacts/{reference}"

    def scan(self, project: str, repository: str, digest: str) -> None:
        path = self._artifact_path(project, repository, digest) + "/scan"
        self._expect(self._call("POST", path), f"starting a scan of {repository}@{digest}", 202)

    def scan_overview(self, project: str, repository: str, digest: str) -> dict[str, Any]:
        path = (
            self._artifact_path(project, repository, digest) + "?" + urlencode({"with_scan_overview": "true"})
        )
        resp = self._expect(
            self._call("GET", path, headers={"X-Accept-Vulnerabilities": VULN_REPORT_TYPES}),
            f"reading {repository}@{digest}",
            200,
        )
        overview = json.loads(resp.body).get("scan_overview") or {}
        # keyed by report media type; gopipe reads the first (Harbor returns the accepted one)
        for report in overview.values():
            if isinstance(report, dict):
                return report
        return {}


def _message(resp: Response) -> str:
    try:
        errors = json.loads(resp.body).get("errors") or []
        text = "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        return ""
    return f": {clip(text, 200)}" if text else ""


def split_project(repository: str) -> tuple[str, str]:
    project, _, rest = repository.partition("/")
    if not rest:
        raise StageFailed(f"Harbor repository {repository!r} needs a project: use 'project/name'")
    return project, rest


def at_or_above(found: str, threshold: Severity) -> bool:
    if threshold == "none":
        return False
    level = found.lower() if found.lower() in SEVERITIES else "unknown"
    return SEVERITIES.index(level) >= SEVERITIES.index(threshold)


def wait_for_scan(
    ctx: ProviderContext[HarborOptions], api: HarborApi, project: str, repo: str, digest: str
) -> dict[str, Any]:
    opts = ctx.options
    api.scan(project, repo, digest)
    deadline = time.monotonic() + opts.scan_timeout
    while True:
        report = api.scan_overview(project, repo, digest)
        status = str(report.get("scan_status", "")).lower()
        if status in SCAN_DONE:
            if status != "success":
                raise StageFailed(
                    f"Harbor scan of {project}/{repo}@{digest} ended with status {report.get('scan_status')}"
                )
            return report
        if time.monotonic() > deadline:
            raise StageFailed(
                f"Harbor scan of {project}/{repo}@{digest} did not finish in "
                f"{opts.scan_timeout:.0f}s (last status {status or 'unknown'}); "
                f"raise scan_timeout"
            )
        ctx.progress(f"scan of {repo}: {status or 'pending'}")
        time.sleep(opts.scan_interval)


def gate(ctx: ProviderContext[HarborOptions], pushed: Pushed, report: dict[str, Any]) -> None:
    severity = str(report.get("severity") or "None")
    counts = (report.get("summary") or {}).get("summary") or {}
    found = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no vulnerabilities"
    ctx.log(f"scan of {pushed.reference}: severity {severity} ({found})")
    if at_or_above(severity, ctx.options.fail_on_severity):
        raise StageFailed(
            f"Harbor scan of {pushed.repository}@{pushed.digest[:19]} found {severity} "
            f"vulnerabilities ({found}); fail_on_severity = {ctx.options.fail_on_severity}",
            details=clip(json.dumps(report, indent=2, sort_keys=True), 4000),
        )


def run(ctx: ProviderContext[HarborOptions]) -> None:
    opts = ctx.options
    images = pushable_images(ctx)
    skipped = len(ctx.artifacts.of_kind("image")) - len(images)
    if not images:
        ctx.summary = "no OCI images to push"
        return
    host = resolve(ctx, opts.registry, "registry", required=True)
    base = (resolve(ctx, opts.api_url, "api_url") or f"https://{host}").rstrip("/")
    user_creds = credentials(ctx, opts)
    ca = resolve(ctx, opts.ca_file, "ca_file")
    transport = Transport(lazy_ssl_context((ctx.root / ca) if ca else None, opts.insecure), opts.timeout)
    # the API takes the same login as the push (explicit, or the Docker config entry)
    api_creds = user_creds or load_docker_credentials(host)
    api = HarborApi(base, api_creds, transport, opts.retry, ctx.redact)
    plan = [(img, render_repository(ctx, opts.repository, img.name)) for img in images]
    projects = sorted({split_project(repo)[0] for _, repo in plan})
    robots: list[int] = []
    pushed: list[Pushed] = []
    try:
        for project in projects:
            if api.project_exists(project):
                continue
            if not opts.create_project:
                raise StageFailed(
                    f"Harbor project {project} does not exist",
                    details=f"create it or set {option_key(ctx, 'create_project')} = true",
                )
            created = api.create_project(project, opts.public)
            ctx.log(f"Harbor project {project} {'created' if created else 'already created'}")
        push_creds = user_creds
        if opts.robot_account:
            if len(projects) != 1:
                raise StageFailed(
                    f"robot_account needs all images in one Harbor project, got {', '.join(projects)}"
                )
            robot_id, push_creds = api.create_robot(
                projects[0], f"gopipe-{ctx.git.short_sha}-{int(time.time())}"
            )
            ctx.add_secret(push_creds.password)
            robots.append(robot_id)
            ctx.log(f"pushing as temporary robot account {push_creds.username}")
        with library_logs(ctx), connect(ctx, opts, host, push_creds) as client:
            results = [
                (push_image(ctx, client, img, repo, render_tags(ctx, opts, img.name)), repo)
                for img, repo in plan
            ]
        for done, repo in results:
            scanned: dict[str, Any] = {}
            if opts.scan:
                project, name = split_project(repo)
                report = wait_for_scan(ctx, api, project, name, done.digest)
                gate(ctx, done, report)
                scanned = {"scan_severity": str(report.get("severity") or "None")}
            record(ctx, done, **scanned)
            pushed.append(done)
    finally:
        for robot_id in robots:
            try:
                api.delete_robot(robot_id)
            except StageFailed as exc:
                ctx.log(f"could not delete the temporary robot account: {exc}")
        transport.close()
    ctx.summary = summary(pushed, skipped)


@hookimpl
def gopipe_uploaders() -> list[Uploader[HarborOptions]]:
    return [
        Uploader(
            name="harbor",
            run=run,
            options=HarborOptions,
            description="push to Harbor: create project, optional robot account and scan gate",
        )
    ]
