"""Argo Rollouts and Flagger deployers, against their real CRDs in a real kube-apiserver.

Their controllers cannot run here, so :mod:`tests.plugins.deploy.controllers` writes the status
transitions the controllers would make (``kubectl patch --subresource=status``, from a thread,
after gopipe changed the pod template) and these tests check that gopipe follows them to
success, to failure and to an abort, and that it ignores status written for an older spec.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.harness.k8s import ControlPlane
from tests.plugins.deploy.conftest import CRDS, Deploy, get_json, ref, tools
from tests.plugins.deploy.controllers import condition, controller, write_status

pytestmark = pytest.mark.slow

ROLLOUT = "rollouts.argoproj.io/hello"
CANARY = "canaries.flagger.app/hello"


@pytest.fixture(scope="session")
def crds(k8s_cluster: ControlPlane) -> Iterator[None]:
    """The Argo Rollouts and Flagger CRDs (cluster-scoped: installed once per session)."""
    k8s_cluster.kubectl("apply", "-f", str(CRDS))
    k8s_cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/rollouts.argoproj.io",
        "crd/canaries.flagger.app",
    )
    yield


def apply(cluster: ControlPlane, namespace: str, obj: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))


def pod_template(image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "hello"}},
        "spec": {"containers": [{"name": "hello", "image": image}]},
    }


# -- Argo Rollouts ----------------------------------------------------------------------------
@pytest.fixture
def rollout(crds: None, k8s_cluster: ControlPlane, k8s_namespace: str) -> str:
    """A canary Rollout running v1 that its (simulated) controller reported Healthy."""
    apply(
        k8s_cluster,
        k8s_namespace,
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "hello"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "hello"}},
                "template": pod_template(ref("v1")),
                "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}]}},
            },
        },
    )
    write_status(
        k8s_cluster,
        k8s_namespace,
        ROLLOUT,
        {
            "observedGeneration": "1",
            "phase": "Healthy",
            "stableRS": "6b9f7d5c4d",
            "currentPodHash": "6b9f7d5c4d",
            "replicas": 2,
            "readyReplicas": 2,
            "availableReplicas": 2,
            "conditions": [condition("Healthy", "True", "RolloutHealthy", "Rollout is healthy")],
        },
    )
    return k8s_namespace


def argo_config(cluster: ControlPlane, namespace: str, **extra: Any) -> dict[str, Any]:
    return {
        "providers": ["argo-rollouts"],
        "argo-rollouts": {**tools(cluster), "namespace": namespace, "rollout": "hello", **extra},
    }


def observed(status: dict[str, Any]) -> Any:
    """A step that marks the status as observed for the generation gopipe created."""
    return lambda gen: {"observedGeneration": str(gen), **status}


def test_argo_rollout_followed_through_pause_to_healthy(
    deploy: Deploy, k8s_cluster: ControlPlane, rollout: str
) -> None:
    steps = [
        observed(
            {
                "phase": "Progressing",
                "message": "more replicas need to be updated",
                "currentPodHash": "7c8d9e0f1a",
                "currentStepIndex": 0,
            }
        ),
        observed(
            {
                "phase": "Paused",
                "message": "CanaryPauseStep",
                "currentStepIndex": 1,
                "pauseConditions": [
                    {
                        "reason": "CanaryPauseStep",
                        "startTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    }
                ],
            }
        ),
        observed({"phase": "Progressing", "pauseConditions": None, "currentStepIndex": 2}),
        observed({"phase": "Healthy", "message": None, "stableRS": "7c8d9e0f1a", "currentStepIndex": 3}),
    ]
    with controller(k8s_cluster, rollout, watch=ROLLOUT, resource=ROLLOUT, steps=steps):
        run = deploy(argo_config(k8s_cluster, rollout), refs={"hello": ref("v2")})
    assert run.exit_code == 0, run.error
    live = get_json(k8s_cluster, "-n", rollout, ROLLOUT)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == ref("v2")
    assert "abort" not in live["status"]
    record = run.deployment()
    assert record["outcome"] == "success"
    assert record["previous_revision"] == {"Rollout/hello": "6b9f7d5c4d"}
    assert record["revision"] == {"Rollout/hello": "7c8d9e0f1a"}
    assert "Rollout hello Healthy at generation 2" in run.stage.summary


def test_argo_stale_healthy_is_ignored_and_degraded_is_aborted(
    deploy: Deploy, k8s_cluster: ControlPlane, rollout: str
) -> None:
    """The old generation's Healthy must not count; Degraded for the new one fails and aborts."""
    steps = [
        observed(
            {
                "phase": "Degraded",
                "message": "ProgressDeadlineExceeded: ReplicaSet "
                '"hello-7c8d9e0f1a" has timed out progressing.',
            }
        )
    ]
    with controller(
        k8s_cluster, rollout, watch=ROLLOUT, resource=ROLLOUT, steps=steps, start_delay=2.5
    ) as ctl:
        run = deploy(argo_config(k8s_cluster, rollout), refs={"hello": ref("v2")})
    assert ctl.started_at is not None  # gopipe was still waiting when the new status came
    assert run.exit_code == 1
    assert "Rollout hello failed: Degraded: ProgressDeadlineExceeded" in run.error
    assert "aborted Rollout hello" in run.error
    live = get_json(k8s_cluster, "-n", rollout, ROLLOUT)
    assert live["status"]["abort"] is True  # what `kubectl argo rollouts abort` writes
    record = run.deployment()
    assert record["outcome"] == "aborted"
    assert record["revision"] == {"Rollout/hello": "6b9f7d5c4d"}  # stable stays


def test_argo_progress_deadline_condition_fails_and_aborts(
    deploy: Deploy, k8s_cluster: ControlPlane, rollout: str
) -> None:
    steps = [
        observed(
            {
                "phase": "Progressing",
                "conditions": [
                    condition(
                        "Progressing",
                        "False",
                        "ProgressDeadlineExceeded",
                        'ReplicaSet "hello-7c8d9e0f1a" has timed out progressing.',
                    )
                ],
            }
        )
    ]
    with controller(k8s_cluster, rollout, watch=ROLLOUT, resource=ROLLOUT, steps=steps):
        run = deploy(argo_config(k8s_cluster, rollout), refs={"hello": ref("v2")})
    assert run.exit_code == 1
    assert 'ProgressDeadlineExceeded: ReplicaSet "hello-7c8d9e0f1a" has timed out' in run.error
    assert get_json(k8s_cluster, "-n", rollout, ROLLOUT)["status"]["abort"] is True


def test_argo_abort_by_analysis_is_reported_not_repeated(
    deploy: Deploy, k8s_cluster: ControlPlane, rollout: str
) -> None:
    """The controller aborted (failed analysis): gopipe reports it and writes nothing itself."""
    steps = [
        observed({"phase": "Progressing", "currentStepIndex": 0}),
        observed(
            {
                "phase": "Degraded",
                "abort": True,
                "message": "RolloutAborted: Rollout aborted "
                'update to revision 2: Metric "success-rate" assessed Failed',
            }
        ),
    ]
    with controller(k8s_cluster, rollout, watch=ROLLOUT, resource=ROLLOUT, steps=steps):
        run = deploy(argo_config(k8s_cluster, rollout), refs={"hello": ref("v2")})
    assert run.exit_code == 1
    assert (
        "rollout was aborted: RolloutAborted: Rollout aborted update to revision 2: Metric "
        '"success-rate" assessed Failed' in run.error
    )
    assert "the rollout was aborted by its controller; 6b9f7d5c4d keeps serving" in run.error
    assert run.deployment()["outcome"] == "aborted"
    live = get_json(k8s_cluster, "-n", rollout, ROLLOUT, "--show-managed-fields")
    status_writers = {
        m["manager"] for m in live["metadata"]["managedFields"] if m.get("subresource") == "status"
    }
    assert "gopipe" not in status_writers


def test_argo_timeout_while_paused_aborts(deploy: Deploy, k8s_cluster: ControlPlane, rollout: str) -> None:
    steps = [
        observed(
            {
                "phase": "Paused",
                "currentStepIndex": 1,
                "message": "CanaryPauseStep",
                "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-02T03:04:05Z"}],
            }
        )
    ]
    with controller(k8s_cluster, rollout, watch=ROLLOUT, resource=ROLLOUT, steps=steps):
        run = deploy(argo_config(k8s_cluster, rollout, timeout=4), refs={"hello": ref("v2")})
    assert run.exit_code == 1
    assert "Rollout hello not Healthy after 4s: Paused at step 1 (CanaryPauseStep)" in run.error
    assert get_json(k8s_cluster, "-n", rollout, ROLLOUT)["status"]["abort"] is True


# -- Flagger ----------------------------------------------------------------------------------
@pytest.fixture
def canary(crds: None, k8s_cluster: ControlPlane, k8s_namespace: str) -> str:
    """Deployment hello (v1) and its Canary, which Flagger reported Succeeded for v1."""
    ns = k8s_namespace
    apply(
        k8s_cluster,
        ns,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "hello"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "hello"}},
                "template": pod_template(ref("v1")),
            },
        },
    )
    apply(
        k8s_cluster,
        ns,
        {
            "apiVersion": "flagger.app/v1beta1",
            "kind": "Canary",
            "metadata": {"name": "hello"},
            "spec": {
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "hello"},
                "service": {"port": 80, "targetPort": 8080},
                "analysis": {"interval": "30s", "threshold": 3, "maxWeight": 50, "stepWeight": 10},
            },
        },
    )
    write_status(
        k8s_cluster,
        ns,
        CANARY,
        {
            "phase": "Succeeded",
            "canaryWeight": 0,
            "failedChecks": 0,
            "iterations": 0,
            "lastAppliedSpec": "5d8f9c6b7",
            "lastPromotedSpec": "5d8f9c6b7",
            "lastTransitionTime": "2026-01-02T03:04:05Z",
            "conditions": [
                condition(
                    "Promoted",
                    "True",
                    "Succeeded",
                    "Canary analysis completed successfully, promotion finished.",
                )
            ],
        },
    )
    return ns


def flagger_config(cluster: ControlPlane, namespace: str, **extra: Any) -> dict[str, Any]:
    return {
        "providers": ["flagger"],
        "flagger": {**tools(cluster), "namespace": namespace, "canary": "hello", **extra},
    }


def test_flagger_canary_followed_to_succeeded(deploy: Deploy, k8s_cluster: ControlPlane, canary: str) -> None:
    progressing = condition(
        "Promoted", "Unknown", "Progressing", "New revision detected, progressing canary analysis."
    )
    steps = [
        {
            "phase": "Progressing",
            "lastAppliedSpec": "8a7b6c5d4",
            "canaryWeight": 0,
            "conditions": [progressing],
        },
        {"phase": "Progressing", "canaryWeight": 10, "iterations": 1},
        {"phase": "Progressing", "canaryWeight": 20, "iterations": 2},
        {"phase": "Promoting", "canaryWeight": 0},
        {"phase": "Finalising"},
        {
            "phase": "Succeeded",
            "lastPromotedSpec": "8a7b6c5d4",
            "conditions": [
                condition(
                    "Promoted",
                    "True",
                    "Succeeded",
                    "Canary analysis completed successfully, promotion finished.",
                )
            ],
        },
    ]
    with controller(k8s_cluster, canary, watch="deployment/hello", resource=CANARY, steps=steps):
        run = deploy(flagger_config(k8s_cluster, canary), refs={"hello": ref("v2")})
    assert run.exit_code == 0, run.error
    dep = get_json(k8s_cluster, "-n", canary, "deployment/hello")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == ref("v2")
    record = run.deployment()
    assert record["outcome"] == "success"
    assert record["objects"] == ["Canary/hello", "Deployment/hello"]
    assert record["previous_revision"] == {"Canary/hello": "5d8f9c6b7"}
    assert record["revision"] == {"Canary/hello": "8a7b6c5d4"}


def test_flagger_failed_analysis_fails_the_deploy(
    deploy: Deploy, k8s_cluster: ControlPlane, canary: str
) -> None:
    steps = [
        {"phase": "Progressing", "lastAppliedSpec": "8a7b6c5d4", "canaryWeight": 10, "failedChecks": 1},
        {"phase": "Progressing", "canaryWeight": 10, "failedChecks": 2},
        {
            "phase": "Failed",
            "canaryWeight": 0,
            "failedChecks": 3,
            "conditions": [
                condition("Promoted", "False", "Failed", "Canary analysis failed, Deployment scaled to zero.")
            ],
        },
    ]
    with controller(k8s_cluster, canary, watch="deployment/hello", resource=CANARY, steps=steps):
        run = deploy(flagger_config(k8s_cluster, canary), refs={"hello": ref("v2")})
    assert run.exit_code == 1
    assert (
        "Canary hello failed: Failed (weight 0%, failed checks 3): Canary analysis failed, "
        "Deployment scaled to zero."
    ) in run.error
    assert "Flagger rolled back: the primary of Deployment/hello keeps serving" in run.error
    assert run.deployment()["outcome"] == "failed"


def test_flagger_analysis_finished_between_reads_is_seen_by_spec_hash(
    deploy: Deploy, k8s_cluster: ControlPlane, canary: str
) -> None:
    """Succeeded before and after: only status.lastAppliedSpec shows the new release ran."""
    steps = [{"phase": "Succeeded", "lastAppliedSpec": "8a7b6c5d4", "lastPromotedSpec": "8a7b6c5d4"}]
    with controller(
        k8s_cluster, canary, watch="deployment/hello", resource=CANARY, steps=steps, start_delay=1.5
    ) as ctl:
        run = deploy(flagger_config(k8s_cluster, canary), refs={"hello": ref("v2")})
    assert run.exit_code == 0, run.error
    assert ctl.started_at is not None  # the old Succeeded was not taken for the new release
    assert run.deployment()["revision"] == {"Canary/hello": "8a7b6c5d4"}


def test_flagger_that_never_starts_times_out(deploy: Deploy, k8s_cluster: ControlPlane, canary: str) -> None:
    run = deploy(flagger_config(k8s_cluster, canary, timeout=3), refs={"hello": ref("v2")})
    assert run.exit_code == 1
    assert (
        "Flagger did not start an analysis within 3s (still Succeeded (weight 0%, failed checks 0)"
        in run.error
    )
