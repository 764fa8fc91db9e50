"""The kubectl deployer against a real kube-apiserver: apply, readiness, rollback, cleanup."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.harness.k8s import NEVER_READY_ANNOTATION, ControlPlane
from tests.plugins.deploy.conftest import Deploy, digest, get_json, ref, tools

pytestmark = pytest.mark.slow


def kubectl_config(cluster: ControlPlane, namespace: str, **extra: Any) -> dict[str, Any]:
    return {"providers": ["kubectl"], "kubectl": {**tools(cluster), "namespace": namespace, **extra}}


def never_ready_overlay(repo: Path, *, progress_deadline: int | None) -> str:
    """A kustomize overlay of deploy/k8s whose pods kwok runs but never makes Ready."""
    overlay = repo / "deploy" / "broken"
    overlay.mkdir()
    patch: dict[str, Any] = {
        "spec": {"template": {"metadata": {"annotations": {NEVER_READY_ANNOTATION: "true"}}}}
    }
    if progress_deadline is not None:
        patch["spec"]["progressDeadlineSeconds"] = progress_deadline
    (overlay / "kustomization.yaml").write_text(
        json.dumps(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": ["../k8s"],
                "patches": [
                    {
                        "target": {"kind": "Deployment", "name": "hello"},
                        "patch": json.dumps(
                            {
                                "apiVersion": "apps/v1",
                                "kind": "Deployment",
                                "metadata": {"name": "hello"},
                                **patch,
                            }
                        ),
                    }
                ],
            }
        )
    )
    return "deploy/broken"


def test_plain_then_kustomize_deploys_pinned_digests_and_waits(
    deploy: Deploy, k8s_cluster: ControlPlane, k8s_namespace: str
) -> None:
    """First a plain directory, then the kustomization: both pinned, applied, ready, recorded."""
    ns = k8s_namespace
    first = deploy(kubectl_config(k8s_cluster, ns, kustomize="never"), refs={"hello": ref("v1")})
    assert first.exit_code == 0, first.error
    dep = get_json(k8s_cluster, "-n", ns, "deployment/hello")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == ref("v1")
    assert dep["status"]["readyReplicas"] == 2
    assert "app.kubernetes.io/part-of" not in dep["metadata"]["labels"]  # no kustomize
    assert dep["metadata"]["annotations"]["gopipe.dev/commit"]
    fields = get_json(k8s_cluster, "-n", ns, "deployment/hello", "--show-managed-fields")
    managers = {(m["manager"], m["operation"]) for m in fields["metadata"]["managedFields"]}
    assert ("gopipe", "Apply") in managers
    record = first.deployment()
    assert record["outcome"] == "success"
    assert record["namespace"] == ns
    assert record["objects"] == ["Deployment/hello", "Service/hello"]
    assert record["images"] == {"hello": ref("v1")}
    assert record["digests"] == [digest("v1")]
    assert record["previous_revision"] == {}
    assert record["revision"] == {"Deployment/hello": "1"}
    assert record["duration_s"] > 0
    assert "ready" in first.stage.summary

    second = deploy(kubectl_config(k8s_cluster, ns), refs={"hello": ref("v2")})
    assert second.exit_code == 0, second.error
    dep = get_json(k8s_cluster, "-n", ns, "deployment/hello")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == ref("v2")
    assert dep["metadata"]["labels"]["app.kubernetes.io/part-of"] == "hello"  # kustomize ran
    assert dep["status"]["updatedReplicas"] == dep["status"]["readyReplicas"] == 2
    record = second.deployment()
    assert record["previous_revision"] == {"Deployment/hello": "1"}
    assert record["revision"] == {"Deployment/hello": "2"}


def test_broken_release_is_rolled_back_to_the_previous_replicaset(
    deploy: Deploy, deploy_repo: Path, k8s_cluster: ControlPlane, k8s_namespace: str
) -> None:
    """v2's pods never become Ready: the progress deadline fails it and v1's ReplicaSet serves again."""
    ns = k8s_namespace
    good = deploy(kubectl_config(k8s_cluster, ns), refs={"hello": ref("v1")})
    assert good.exit_code == 0, good.error
    v1_rs = get_json(k8s_cluster, "-n", ns, "replicasets")["items"]
    assert len(v1_rs) == 1
    v1_hash = v1_rs[0]["metadata"]["labels"]["pod-template-hash"]

    overlay = never_ready_overlay(deploy_repo, progress_deadline=4)
    bad = deploy(kubectl_config(k8s_cluster, ns, manifests=overlay, timeout=90), refs={"hello": ref("v2")})
    assert bad.exit_code == 1
    assert bad.stage.status == "failed"
    error = bad.error
    assert "deployment/hello exceeded its progress deadline" in error
    assert "Ready=False" in error and "ContainersNotReady" in error  # why, from the pods
    assert "rolled back deployment/hello to revision 1 (ready again)" in error
    assert "\n" not in error
    details = bad.stage.providers[0].details or ""
    assert "running but not ready" in details

    record = bad.deployment()
    assert record["outcome"] == "rolled-back"
    assert record["previous_revision"] == {"Deployment/hello": "1"}
    assert record["images"] == {"hello": ref("v2")}
    assert "progress deadline" in record["reason"]

    dep = get_json(k8s_cluster, "-n", ns, "deployment/hello")
    template = dep["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == ref("v1")
    assert NEVER_READY_ANNOTATION not in (template["metadata"].get("annotations") or {})
    assert dep["status"]["readyReplicas"] == 2
    assert dep["status"]["updatedReplicas"] == 2
    by_hash = {
        rs["metadata"]["labels"]["pod-template-hash"]: rs
        for rs in get_json(k8s_cluster, "-n", ns, "replicasets")["items"]
    }
    assert len(by_hash) == 2  # v1 and the failed v2
    assert by_hash[v1_hash]["status"].get("readyReplicas") == 2  # the previous ReplicaSet is live
    failed = next(rs for h, rs in by_hash.items() if h != v1_hash)
    assert failed["spec"]["replicas"] == 0
    assert record["revision"] == {"Deployment/hello": "3"}  # v1's template, re-numbered


def test_failed_first_deploy_deletes_what_it_created(
    deploy: Deploy, deploy_repo: Path, k8s_cluster: ControlPlane, k8s_namespace: str
) -> None:
    """Nothing was there before, the rollout times out: gopipe removes its objects and says so."""
    ns = k8s_namespace
    overlay = never_ready_overlay(deploy_repo, progress_deadline=None)
    bad = deploy(
        kubectl_config(k8s_cluster, ns, manifests=overlay, timeout=4, fail_fast=False),
        refs={"hello": ref("v1")},
    )
    assert bad.exit_code == 1
    assert "deployment/hello not ready after 4s" in bad.error
    # kustomize puts Services first
    assert "deleted what this deploy created (Service/hello, Deployment/hello)" in bad.error
    assert bad.deployment()["outcome"] == "rolled-back"
    left = k8s_cluster.kubectl("get", "-n", ns, "deployment/hello", "service/hello", check=False)
    assert left.returncode != 0 and "NotFound" in left.stderr


def test_statefulset_and_daemonset_are_waited_for(
    deploy: Deploy, deploy_repo: Path, k8s_cluster: ControlPlane, k8s_namespace: str
) -> None:
    """Every workload kind the deploy touches must be ready, not only Deployments."""
    manifests = deploy_repo / "deploy" / "workloads"
    manifests.mkdir()

    def pod_template(app: str) -> dict[str, Any]:
        return {
            "metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": app, "image": f"example.invalid/{app}:dev"}]},
        }

    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db"},
            "spec": {
                "replicas": 2,
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": pod_template("db"),
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": pod_template("agent")},
        },
    ]
    for obj in objects:
        (manifests / f"{obj['metadata']['name']}.json").write_text(json.dumps(obj))
    config = kubectl_config(
        k8s_cluster, k8s_namespace, manifests="deploy/workloads", images={"db": "db", "agent": "agent"}
    )
    run = deploy(config, refs={"db": ref("db1", "db"), "agent": ref("ag1", "agent")})
    assert run.exit_code == 0, run.error
    sts = get_json(k8s_cluster, "-n", k8s_namespace, "statefulset/db")
    ds = get_json(k8s_cluster, "-n", k8s_namespace, "daemonset/agent")
    assert sts["status"]["readyReplicas"] == 2
    nodes = len(k8s_cluster.node_names)
    assert ds["status"]["numberAvailable"] == ds["status"]["desiredNumberScheduled"] == nodes
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == ref("db1", "db")
    record = run.deployment()
    assert set(record["revision"]) == {"StatefulSet/db", "DaemonSet/agent"}


def test_unmatched_images_fail_before_touching_the_cluster(
    deploy: Deploy, k8s_cluster: ControlPlane, k8s_namespace: str
) -> None:
    """No digest for the manifests' image: refuse rather than deploy a tag."""
    run = deploy(kubectl_config(k8s_cluster, k8s_namespace), refs={"other": ref("x", "other")})
    assert run.exit_code == 1
    assert "no container image in deploy/k8s (hello) matches a pushed image" in run.error
    typo = deploy(
        kubectl_config(k8s_cluster, k8s_namespace, images={"helo": "hello"}), refs={"hello": ref("v1")}
    )
    assert "images: helo matches no container image in deploy/k8s" in typo.error
    assert get_json(k8s_cluster, "-n", k8s_namespace, "deployments")["items"] == []


def crash_first_new_pod(cluster: ControlPlane, namespace: str, stop: threading.Event) -> None:
    """Write what a kubelet writes for a crash-looping container (kwok runs no containers).

    Waits for a pod of the never-ready template, sets its container to CrashLoopBackOff through
    the status subresource and records the kubelet's BackOff Warning event for it.
    """
    while not stop.is_set():
        pods = get_json(cluster, "-n", namespace, "pods")["items"]
        new = [
            p
            for p in pods
            if NEVER_READY_ANNOTATION in (p["metadata"].get("annotations") or {})
            and p["status"].get("phase") == "Running"
        ]
        if new:
            pod = new[0]
            name = pod["metadata"]["name"]
            container = pod["spec"]["containers"][0]
            cluster.kubectl(
                "patch",
                "-n",
                namespace,
                f"pod/{name}",
                "--subresource=status",
                "--type=merge",
                "-p",
                json.dumps(
                    {
                        "status": {
                            "containerStatuses": [
                                {
                                    "name": container["name"],
                                    "image": container["image"],
                                    "imageID": "",
                                    "ready": False,
                                    "started": False,
                                    "restartCount": 4,
                                    "state": {
                                        "waiting": {
                                            "reason": "CrashLoopBackOff",
                                            "message": "back-off 1m20s restarting failed",
                                        }
                                    },
                                    "lastState": {"terminated": {"exitCode": 2, "reason": "Error"}},
                                }
                            ]
                        }
                    }
                ),
            )
            cluster.kubectl(
                "create",
                "-n",
                namespace,
                "-f",
                "-",
                input=json.dumps(
                    {
                        "apiVersion": "v1",
                        "kind": "Event",
                        "metadata": {"name": f"{name}.backoff"},
                        "type": "Warning",
                        "reason": "BackOff",
                        "count": 7,
                        "message": "Back-off restarting failed container hello",
                        "involvedObject": {
                            "kind": "Pod",
                            "name": name,
                            "namespace": namespace,
                            "uid": pod["metadata"]["uid"],
                        },
                        "source": {"component": "kubelet"},
                    }
                ),
            )
            return
        stop.wait(0.3)


def test_crash_looping_pod_fails_fast_with_its_reason(
    deploy: Deploy, deploy_repo: Path, k8s_cluster: ControlPlane, k8s_namespace: str
) -> None:
    """A container in CrashLoopBackOff ends the wait at once, long before the timeout."""
    ns = k8s_namespace
    overlay = never_ready_overlay(deploy_repo, progress_deadline=None)
    stop = threading.Event()
    kubelet = threading.Thread(target=crash_first_new_pod, args=(k8s_cluster, ns, stop), daemon=True)
    kubelet.start()
    try:
        bad = deploy(
            kubectl_config(k8s_cluster, ns, manifests=overlay, timeout=120), refs={"hello": ref("v1")}
        )
    finally:
        stop.set()
        kubelet.join(10)
    assert bad.exit_code == 1
    assert bad.stage.duration_s < 60
    assert "container hello CrashLoopBackOff: back-off 1m20s restarting failed" in bad.error
    details = bad.stage.providers[0].details or ""
    assert "container hello waiting: CrashLoopBackOff" in details
    assert "container hello last exit 2 (Error)" in details
    assert "event BackOff on pod/" in details and "(x7)" in details
