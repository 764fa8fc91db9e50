"""Proves the Kubernetes test control plane is real enough for gopipe's deploy tests."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from tests.harness.k8s import NEVER_READY_ANNOTATION, ControlPlane

# Fixtures k8s_cluster / k8s_namespace come from tests.harness.k8s via tests/conftest.py.

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures" / "k8s"


def deployment(
    name: str, replicas: int, image: str, never_ready: bool = False, progress_deadline: int = 600
) -> str:
    """A Deployment manifest (JSON, which kubectl accepts as YAML)."""
    meta: dict[str, Any] = {"labels": {"app": name}}
    if never_ready:
        meta["annotations"] = {NEVER_READY_ANNOTATION: "true"}
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "progressDeadlineSeconds": progress_deadline,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": meta, "spec": {"containers": [{"name": "app", "image": image}]}},
            },
        }
    )


def get_json(cp: ControlPlane, *args: str) -> Any:
    return json.loads(cp.kubectl("get", *args, "-o", "json").stdout)


def test_version_matches_pin(k8s_cluster: ControlPlane) -> None:
    assert k8s_cluster.version.startswith("v1.")
    assert k8s_cluster.api("GET", "/version")["gitVersion"] == k8s_cluster.version
    out = json.loads(k8s_cluster.kubectl("version", "-o", "json").stdout)
    assert out["serverVersion"]["gitVersion"] == k8s_cluster.version
    assert out["clientVersion"]["gitVersion"] == k8s_cluster.version


def test_env_points_tools_at_cluster(k8s_cluster: ControlPlane) -> None:
    env = k8s_cluster.env()
    assert env["KUBECONFIG"] == str(k8s_cluster.kubeconfig)
    assert env["PATH"].startswith(str(k8s_cluster.bin_dir))
    assert (k8s_cluster.bin_dir / "kubectl").exists() and (k8s_cluster.bin_dir / "helm").exists()
    # A plain `kubectl` found through PATH/KUBECONFIG reaches the same cluster.
    out = subprocess.run(
        ["kubectl", "get", "nodes", "-o", "name"], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert {f"node/{n}" for n in k8s_cluster.node_names} <= set(out)


def test_deployment_becomes_ready(k8s_cluster: ControlPlane, k8s_namespace: str) -> None:
    ns = k8s_namespace
    k8s_cluster.kubectl(
        "apply", "-n", ns, "-f", "-", input=deployment("web", 2, "registry.invalid/gopipe/web:1")
    )
    k8s_cluster.kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=60s")
    status = get_json(k8s_cluster, "-n", ns, "deployment/web")["status"]
    assert status["readyReplicas"] == 2
    pods = get_json(k8s_cluster, "-n", ns, "pods", "-l", "app=web")["items"]
    assert {p["spec"]["nodeName"] for p in pods} <= set(k8s_cluster.node_names)
    assert all(p["status"]["phase"] == "Running" for p in pods)


def test_never_ready_pod_stays_unready(k8s_cluster: ControlPlane, k8s_namespace: str) -> None:
    ns = k8s_namespace
    k8s_cluster.kubectl(
        "apply",
        "-n",
        ns,
        "-f",
        "-",
        input=deployment("stuck", 1, "registry.invalid/gopipe/stuck:1", never_ready=True),
    )
    deadline = time.monotonic() + 30
    pod: dict[str, Any] = {}
    while time.monotonic() < deadline:  # wait until kwok has "started" the pod
        items = get_json(k8s_cluster, "-n", ns, "pods", "-l", "app=stuck")["items"]
        if items and items[0]["status"].get("phase") == "Running":
            pod = items[0]
            break
        time.sleep(0.5)
    assert pod, "kwok never moved the never-ready pod to Running"
    time.sleep(3)  # give kwok every chance to (wrongly) make it Ready
    pod = get_json(k8s_cluster, "-n", ns, "pod", pod["metadata"]["name"])
    conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conditions["Ready"] == "False"
    assert pod["status"]["containerStatuses"][0]["ready"] is False
    rollout = k8s_cluster.kubectl(
        "rollout", "status", "-n", ns, "deployment/stuck", "--timeout=3s", check=False
    )
    assert rollout.returncode != 0


def test_failed_rollout_is_detected_and_undone(k8s_cluster: ControlPlane, k8s_namespace: str) -> None:
    """The rollback scenario deploy tests need: v2 never gets Ready, deadline, undo."""
    ns = k8s_namespace
    apply = ("apply", "-n", ns, "-f", "-")
    k8s_cluster.kubectl(*apply, input=deployment("app", 2, "registry.invalid/app:1", progress_deadline=5))
    k8s_cluster.kubectl("rollout", "status", "-n", ns, "deployment/app", "--timeout=60s")
    k8s_cluster.kubectl(
        *apply, input=deployment("app", 2, "registry.invalid/app:2", never_ready=True, progress_deadline=5)
    )
    failed = k8s_cluster.kubectl(
        "rollout", "status", "-n", ns, "deployment/app", "--timeout=90s", check=False
    )
    assert failed.returncode != 0
    assert "exceeded its progress deadline" in failed.stderr + failed.stdout
    k8s_cluster.kubectl("rollout", "undo", "-n", ns, "deployment/app")
    k8s_cluster.kubectl("rollout", "status", "-n", ns, "deployment/app", "--timeout=60s")
    dep = get_json(k8s_cluster, "-n", ns, "deployment/app")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.invalid/app:1"
    assert dep["status"]["readyReplicas"] == 2


def test_helm_install_becomes_ready(k8s_cluster: ControlPlane, k8s_namespace: str) -> None:
    ns = k8s_namespace
    k8s_cluster.helm("install", "demo", str(FIXTURES / "chart"), "-n", ns, "--wait", "--timeout=60s")
    status = get_json(k8s_cluster, "-n", ns, "deployment/demo")["status"]
    assert status["readyReplicas"] == 2
    releases = json.loads(k8s_cluster.helm("list", "-n", ns, "-o", "json").stdout)
    assert [(r["name"], r["status"]) for r in releases] == [("demo", "deployed")]


def test_custom_resources_work(k8s_cluster: ControlPlane, k8s_namespace: str) -> None:
    """Argo Rollouts and Flagger are CRDs: the apiextensions path must serve them."""
    k8s_cluster.kubectl("apply", "-f", str(FIXTURES / "crd-widgets.yaml"))
    k8s_cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=30s", "crd/widgets.testenv.gopipe.dev"
    )
    widget = {
        "apiVersion": "testenv.gopipe.dev/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 3},
    }
    k8s_cluster.kubectl("apply", "-n", k8s_namespace, "-f", "-", input=json.dumps(widget))
    got = get_json(k8s_cluster, "-n", k8s_namespace, "widget/w")
    assert got["spec"]["size"] == 3
