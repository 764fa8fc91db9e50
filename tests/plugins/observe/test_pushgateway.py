"""pushgateway notifier against a real Prometheus Pushgateway (Debian prometheus-pushgateway).

Three runs are pushed in sequence (a deploy, a failed deploy, a restoring deploy) and the
gateway's own ``/metrics`` is scraped after each: series, labels and the counters the
pusher maintains across runs must be what Prometheus would then scrape.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import pytest
from tests.harness.pushgateway import Pushgateway
from tests.plugins.notify.conftest import GIT, Sent, sample_report
from tests.plugins.notify.receiver import Receiver, Reply, Service

from gopipe.artifacts import Artifact
from gopipe.report import Report, StageResult

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(gw: Pushgateway, group: dict[str, str]) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The gateway's exposition, restricted to one group, labels minus the group's own."""
    out = {}
    for line in gw.metrics().splitlines():
        m = _SAMPLE.match(line)
        if not m or line.startswith("#"):
            continue
        labels = dict(_LABEL.findall(m["labels"] or ""))
        if any(labels.get(k) != v for k, v in group.items()):
            continue
        own = frozenset((k, v) for k, v in labels.items() if k not in group and k != "instance")
        out[(m["name"], own)] = float(m["value"])
    return out


def k(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def cd_report(status: str, deploys: dict[str, str], started: float) -> Report:
    report = sample_report("success")
    stages = [
        StageResult("package", "success", 5.0),
        StageResult("upload", "success", 2.0),
        StageResult("deploy", "success" if status == "success" else "failed", 30.0),
    ]
    artifacts = [
        Artifact(
            "deployment", env, extra={"environment": env, "outcome": outcome, "digest": "sha256:" + "cd" * 32}
        )
        for env, outcome in deploys.items()
    ]
    return dataclasses.replace(
        report,
        pipeline="cd",
        status=status,
        stages=stages,  # type: ignore[arg-type]
        artifacts=artifacts,
        started_at=started,
        duration_s=40.0,
    )


@pytest.mark.slow
def test_runs_and_dora_signals(pushgateway: Pushgateway, send: Callable[..., Sent]) -> None:
    pushgateway.wipe()
    table = f'url = "{pushgateway.url}"\n'
    # {project} is the remote's repository name (GIT.remote_url ends in /hello), not the checkout dir
    group = {"job": "gopipe", "project": "hello", "pipeline": "cd"}

    assert send("pushgateway", table, cd_report("success", {"staging": "success"}, 1000.0)).error is None
    m = scrape(pushgateway, group)
    assert m[k("gopipe_runs_total", status="success")] == 1
    assert m[k("gopipe_run_success")] == 1
    assert m[k("gopipe_run_status", status="success")] == 1
    assert m[k("gopipe_stage_duration_seconds", stage="deploy")] == 30
    assert m[k("gopipe_stage_status", stage="deploy", status="success")] == 1
    assert m[k("gopipe_deploy_timestamp_seconds", environment="staging")] == 1040
    assert m[k("gopipe_deploy_commit_timestamp_seconds", environment="staging")] == GIT.commit_time
    assert (
        m[
            (
                "gopipe_deploy_info",
                frozenset(
                    {
                        ("environment", "staging"),
                        ("commit", GIT.sha),
                        ("version", GIT.version),
                        ("image", "sha256:" + "cd" * 32),
                    }
                ),
            )
        ]
        == 1
    )
    assert (
        m[("gopipe_build_info", frozenset({("commit", GIT.sha), ("version", GIT.version), ("ref", "main")}))]
        == 1
    )
    assert m[k("gopipe_run_failure_streak")] == 0

    assert send("pushgateway", table, cd_report("failed", {"staging": "failed"}, 2000.0)).error is None
    m = scrape(pushgateway, group)
    assert m[k("gopipe_runs_total", status="success")] == 1
    assert m[k("gopipe_runs_total", status="failed")] == 1
    assert m[k("gopipe_run_failure_streak")] == 1
    assert m[k("gopipe_deploy_failure_timestamp_seconds", environment="staging")] == 2040
    assert m[k("gopipe_deploy_timestamp_seconds", environment="staging")] == 1040
    assert m[k("gopipe_deployments_total", environment="staging", status="failed")] == 1
    assert k("gopipe_stage_status", stage="deploy", status="success") not in m

    ok = cd_report("success", {"staging": "success", "production": "success"}, 3000.0)
    assert send("pushgateway", table, ok).error is None
    m = scrape(pushgateway, group)
    assert m[k("gopipe_run_failure_streak")] == 0
    assert m[k("gopipe_runs_total", status="success")] == 2
    assert m[k("gopipe_deploy_restore_timestamp_seconds", environment="staging")] == 3040
    assert k("gopipe_deploy_restore_timestamp_seconds", environment="production") not in m
    assert m[k("gopipe_deploy_timestamp_seconds", environment="production")] == 3040
    assert m[k("gopipe_deployments_total", environment="staging", status="success")] == 2
    assert m[k("gopipe_run_last_failure_timestamp_seconds")] == 2040
    assert m[k("gopipe_run_last_success_timestamp_seconds")] == 3040


@pytest.mark.slow
def test_grouping_labels_with_slashes(pushgateway: Pushgateway, send: Callable[..., Sent]) -> None:
    pushgateway.wipe()
    report = dataclasses.replace(sample_report("success"), git=dataclasses.replace(GIT, branch="feature/x"))
    sent = send(
        "pushgateway",
        f'url = "{pushgateway.url}"\njob = "ci/pipelines"\n'
        'grouping = { project = "{project}", branch = "{branch}" }\n',
        report,
    )
    assert sent.error is None, sent.log
    m = scrape(pushgateway, {"job": "ci/pipelines", "project": "hello", "branch": "feature/x"})
    assert m[k("gopipe_runs_total", status="success")] == 1


def test_grouping_on_a_metric_label_is_refused(send: Callable[..., Sent]) -> None:
    sent = send("pushgateway", 'url = "http://127.0.0.1:9"\ngrouping = { stage = "x" }\n')
    assert sent.error is not None and "grouping label(s) stage are metric labels" in sent.error.message


def test_basic_auth_and_gateway_errors(
    receiver: Callable[[Service], Receiver], send: Callable[..., Sent], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local receiver stands in for a gateway behind basic auth (the Debian one has none)."""
    seen: list[str | None] = []

    def gateway(request: object) -> Reply:
        from tests.plugins.notify.receiver import Request

        assert isinstance(request, Request)
        seen.append(request.header("Authorization"))
        if request.method == "GET":
            return Reply.json({"status": "success", "data": []})
        return Reply(200)

    r = receiver(gateway)
    monkeypatch.setenv("PUSHGATEWAY_PASSWORD", "pg-password-5678")
    r.queue(Reply(503, b"unavailable"))
    sent = send(
        "pushgateway",
        f'url = "{r.base}"\nusername = "ci"\npassword = {{ env = "PUSHGATEWAY_PASSWORD" }}\n'
        "retry.base_delay = 0.01\n",
    )
    assert sent.error is None, sent.log
    assert [q.method for q in r.requests] == ["GET", "GET", "PUT"]
    assert set(seen) == {"Basic Y2k6cGctcGFzc3dvcmQtNTY3OA=="}
    assert 'gopipe_runs_total{status="failed"} 1' in r.requests[-1].body.decode()
