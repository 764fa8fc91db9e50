"""``pushgateway`` notifier: pipeline and DORA metrics pushed to a Prometheus Pushgateway.

It is a notifier so it runs last, with the full report. Each push reads the group back,
carries forward what this run did not re-measure (other environments' timestamps),
increments the counters the pusher owns (``gopipe_runs_total``,
``gopipe_deployments_total``, the failure streak) and replaces the group with ``PUT``.
Two runs pushing the same group at the same moment can lose one increment (the gateway has
no compare-and-set); group by pipeline (the default) so CI and CD runs do not collide.
Metric names and the PromQL that turns them into DORA keys: docs/observability.md.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from gopipe import hookimpl
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.report import Report
from gopipe.secrets import Secret
from gopipe.types import Notifier
from gopipe_oci.retry import RetryPolicy
from gopipe_plugins._common.http import RENAMED_RETRY_KEYS, Client, DeliveryError, by_status
from gopipe_plugins.observe.dora import deployments
from gopipe_plugins.observe.exposition import Family, Labels, exposition, group_path, read_group

RESERVED_LABELS = frozenset(
    {"stage", "status", "environment", "commit", "version", "ref", "image", "instance", "job"}
)


@dataclass(frozen=True)
class PushgatewayOptions:
    """Prometheus Pushgateway."""

    url: str = doc("Pushgateway base URL, e.g. http://pushgateway:9091")
    job: str = doc("job label of the pushed group", "gopipe")
    grouping: dict[str, str] = doc(
        "grouping labels (values are templates: {project}, {pipeline}, {branch} …)",
        default_factory=lambda: {"project": "{project}", "pipeline": "{pipeline}"},
    )
    username: str = doc("basic-auth user; empty = no auth", "")
    password: Secret | None = doc('basic-auth password, e.g. { env = "PUSHGATEWAY_PASSWORD" }', None)
    timeout: float = doc("seconds per request", 10.0)
    retry: RetryPolicy = doc("retries of connection errors, 429 and 5xx", default_factory=RetryPolicy)

    RENAMED_KEYS: ClassVar[Mapping[str, tuple[str, str]]] = RENAMED_RETRY_KEYS


def run(ctx: ProviderContext[PushgatewayOptions]) -> None:
    report = ctx.report
    if report is None:
        ctx.fail("no run report (notify runs after the pipeline)")
    opts = ctx.options
    grouping = {
        k: ctx.render(v, key=f"grouping.{k}", pipeline=report.pipeline) for k, v in opts.grouping.items()
    }
    clash = sorted(RESERVED_LABELS & set(grouping))
    if clash:
        ctx.fail(
            f"grouping label(s) {', '.join(clash)} are metric labels; "
            "choose other names ([tool.gopipe.notify.pushgateway] grouping)"
        )
    client = Client("pushgateway", opts.retry, log=ctx.log, timeout=opts.timeout, stop=ctx.tracker.cancelled)
    base = opts.url.rstrip("/")
    try:
        headers = _auth(opts)
        current = client.send("GET", f"{base}/api/v1/metrics", headers=headers, check=by_status)
        previous = read_group(current.json(), opts.job, grouping)
        families = metrics(report, previous, environment=ctx.args.environment)
        body = exposition(families).encode()
        path = group_path(opts.job, grouping)
        client.send(
            "PUT",
            base + path,
            body,
            check=by_status,
            headers={**headers, "Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )
    except DeliveryError as exc:
        ctx.fail(f"not pushed: {exc}")
    except LookupError as exc:
        ctx.fail(f"secret unavailable: {exc}")
    series = sum(len(f.samples) for f in families)
    ctx.summary = f"pushgateway: {series} series pushed"


def _auth(opts: PushgatewayOptions) -> dict[str, str]:
    if not opts.username:
        return {}
    password = opts.password.reveal() if opts.password is not None else ""
    token = base64.b64encode(f"{opts.username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def metrics(
    report: Report,
    previous: dict[str, dict[Labels, float]],
    environment: str | None = None,
    now: float | None = None,
) -> list[Family]:
    """Everything to push, given what the group held before this run."""
    git = report.git
    finished = report.started_at + report.duration_s if now is None else now
    ok = report.status == "success"

    def carried(name: str, kind: str, help_text: str) -> Family:
        fam = Family(name, "counter" if kind == "counter" else "gauge", help_text)
        fam.samples.update(previous.get(name, {}))
        return fam

    run_success = Family("gopipe_run_success", "gauge", "1 if the last run succeeded, else 0")
    run_success.set(1 if ok else 0)
    run_status = Family("gopipe_run_status", "gauge", "the last run's status (one series, value 1)")
    run_status.set(1, status=report.status)
    duration = Family("gopipe_run_duration_seconds", "gauge", "wall time of the last run")
    duration.set(report.duration_s)
    started = Family("gopipe_run_timestamp_seconds", "gauge", "when the last run started")
    started.set(report.started_at)
    commit_ts = Family("gopipe_commit_timestamp_seconds", "gauge", "commit time of the last run's commit")
    commit_ts.set(git.commit_time)
    info = Family("gopipe_build_info", "gauge", "version, commit and ref (branch or tag) of the last run")
    info.set(1, version=git.version, commit=git.sha, ref=git.branch or git.tag or "")
    last_ok = carried("gopipe_run_last_success_timestamp_seconds", "gauge", "when a run last succeeded")
    last_failed = carried("gopipe_run_last_failure_timestamp_seconds", "gauge", "when a run last failed")
    if ok:
        last_ok.set(finished)
    elif report.status == "failed":
        last_failed.set(finished)
    streak = Family("gopipe_run_failure_streak", "gauge", "consecutive failed runs")
    before = (previous.get(streak.name) or {}).get((), 0.0)
    streak.set(0 if ok else before + 1 if report.status == "failed" else before)
    runs = carried("gopipe_runs_total", "counter", "runs by status, counted by the pusher")
    runs.set((runs.get(status=report.status) or 0) + 1, status=report.status)

    stage_duration = Family("gopipe_stage_duration_seconds", "gauge", "wall time of each stage")
    stage_status = Family("gopipe_stage_status", "gauge", "each stage's status (value 1)")
    for stage in report.stages:
        stage_duration.set(stage.duration_s, stage=stage.name)
        stage_status.set(1, stage=stage.name, status=stage.status)

    deployed = carried(
        "gopipe_deploy_timestamp_seconds", "gauge", "last successful deployment per environment"
    )
    deployed_commit = carried(
        "gopipe_deploy_commit_timestamp_seconds",
        "gauge",
        "commit time of what is deployed per environment (lead time)",
    )
    deploy_info = carried("gopipe_deploy_info", "gauge", "what is deployed per environment")
    failed_at = carried(
        "gopipe_deploy_failure_timestamp_seconds", "gauge", "last failed deployment per environment"
    )
    restored_at = carried(
        "gopipe_deploy_restore_timestamp_seconds",
        "gauge",
        "last successful deployment after a failed one, per environment",
    )
    deploys = carried(
        "gopipe_deployments_total", "counter", "deployments by environment and status, counted by the pusher"
    )
    for d in deployments(report, environment, now=finished):
        env = d.environment
        status = "success" if d.succeeded else "failed"
        deploys.set((deploys.get(environment=env, status=status) or 0) + 1, environment=env, status=status)
        if not d.succeeded:
            failed_at.set(d.finished_at, environment=env)
            continue
        last_failure = failed_at.get(environment=env)
        last_success = deployed.get(environment=env)
        if last_failure is not None and (last_success is None or last_failure > last_success):
            restored_at.set(d.finished_at, environment=env)
        deployed.set(d.finished_at, environment=env)
        deployed_commit.set(d.commit_time, environment=env)
        deploy_info.samples = {
            k: v for k, v in deploy_info.samples.items() if dict(k).get("environment") != env
        }
        deploy_info.set(1, environment=env, commit=d.commit, version=d.version, image=d.image)
    return [
        run_success,
        run_status,
        duration,
        started,
        commit_ts,
        info,
        last_ok,
        last_failed,
        streak,
        runs,
        stage_duration,
        stage_status,
        deployed,
        deployed_commit,
        deploy_info,
        failed_at,
        restored_at,
        deploys,
    ]


@hookimpl
def gopipe_notifiers() -> list[Notifier[PushgatewayOptions]]:
    return [
        Notifier(
            name="pushgateway",
            run=run,
            options=PushgatewayOptions,
            description="pipeline and DORA metrics to a Prometheus Pushgateway",
        )
    ]
