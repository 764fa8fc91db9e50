"""The helm deployer with examples/hello's chart against a real kube-apiserver."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.harness.k8s import NEVER_READY_ANNOTATION, ControlPlane
from tests.plugins.deploy.conftest import Deploy, digest, get_json, ref, tools

pytestmark = pytest.mark.slow


def helm_config(cluster: ControlPlane, namespace: str, **extra: Any) -> dict[str, Any]:
    return {
        "providers": ["helm"],
        "helm": {**tools(cluster), "helm": str(cluster.bin_dir / "helm"), "namespace": namespace, **extra},
    }


def history(cluster: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    return list(json.loads(cluster.helm("history", "hello", "-n", namespace, "-o", "json").stdout))


def test_install_then_upgrade_with_digest_values(
    deploy: Deploy, k8s_cluster: ControlPlane, k8s_namespace: str
) -> None:
    ns = k8s_namespace
    first = deploy(helm_config(k8s_cluster, ns), refs={"hello": ref("v1")})
    assert first.exit_code == 0, first.error
    dep = get_json(k8s_cluster, "-n", ns, "deployment/hello")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == ref("v1")
    assert dep["status"]["readyReplicas"] == 2
    record = first.deployment()
    assert record["outcome"] == "success"
    assert record["revision"] == {"release/hello": "1"}
    assert record["previous_revision"] == {}
    assert record["objects"] == ["Service/hello", "Deployment/hello"]
    assert "release hello revision 1" in first.stage.summary

    second = deploy(helm_config(k8s_cluster, ns), refs={"hello": ref("v2")})
    assert second.exit_code == 0, second.error
    record = second.deployment()
    assert record["previous_revision"] == {"release/hello": "1"}
    assert record["revision"] == {"release/hello": "2"}
    assert record["digests"] == [digest("v2")]
    assert [(h["revision"], h["status"]) for h in history(k8s_cluster, ns)] == [
        (1, "superseded"),
        (2, "deployed"),
    ]
    values = json.loads(k8s_cluster.helm("get", "values", "hello", "-n", ns, "-o", "json").stdout)
    assert values["image"] == {"repository": "registry.invalid/acme/hello", "digest": digest("v2")}


def test_broken_upgrade_is_rolled_back_after_saying_why(
    deploy: Deploy, k8s_cluster: ControlPlane, k8s_namespace: str
) -> None:
    """An environment's values make the pods never Ready: helm times out, gopipe rolls back to 1."""
    ns = k8s_namespace
    good = deploy(helm_config(k8s_cluster, ns), refs={"hello": ref("v1")})
    assert good.exit_code == 0, good.error
    v1_hash = get_json(k8s_cluster, "-n", ns, "replicasets")["items"][0]["metadata"]["labels"][
        "pod-template-hash"
    ]
    config = helm_config(k8s_cluster, ns, timeout=6)
    config["environments"] = {
        "staging": {"namespace": ns, "values": {"podAnnotations": {NEVER_READY_ANNOTATION: "true"}}}
    }
    bad = deploy(config, refs={"hello": ref("v2")})
    assert bad.exit_code == 1
    error = bad.error
    assert error.startswith("helm: staging: helm upgrade failed:")
    assert "deployment/hello" in error and "ContainersNotReady" in error
    assert error.endswith("rolled back release hello to revision 1")
    record = bad.deployment("staging")
    assert record["outcome"] == "rolled-back"
    assert record["previous_revision"] == {"release/hello": "1"}
    assert record["revision"] == {"release/hello": "3"}
    assert [(h["revision"], h["status"]) for h in history(k8s_cluster, ns)] == [
        (1, "superseded"),
        (2, "failed"),
        (3, "deployed"),
    ]
    dep = get_json(k8s_cluster, "-n", ns, "deployment/hello")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == ref("v1")
    assert dep["status"]["readyReplicas"] == 2
    live = [
        rs
        for rs in get_json(k8s_cluster, "-n", ns, "replicasets")["items"]
        if rs["status"].get("readyReplicas")
    ]
    assert [rs["metadata"]["labels"]["pod-template-hash"] for rs in live] == [v1_hash]
