"""--dry-run prints the rendered objects and the diff against the cluster, and changes nothing."""

from __future__ import annotations

import json

import pytest
from tests.harness.k8s import ControlPlane
from tests.plugins.deploy.conftest import CRDS, Deploy, digest, get_json, ref
from tests.plugins.deploy.test_helm import helm_config
from tests.plugins.deploy.test_kubectl import kubectl_config
from tests.plugins.deploy.test_progressive import ROLLOUT, apply, argo_config, pod_template

pytestmark = pytest.mark.slow


def snapshot(cluster: ControlPlane, namespace: str) -> list[tuple[str, str, str]]:
    """Every object gopipe could touch, with its resourceVersion (not the namespace's own CA)."""
    items = get_json(cluster, "-n", namespace, "deployments,services,replicasets,secrets,configmaps")["items"]
    return sorted(
        (o["kind"], o["metadata"]["name"], o["metadata"]["resourceVersion"])
        for o in items
        if o["metadata"]["name"] != "kube-root-ca.crt"
    )


def test_kubectl_dry_run_shows_objects_and_diff_and_changes_nothing(
    deploy: Deploy, k8s_cluster: ControlPlane, k8s_namespace: str, capfd: pytest.CaptureFixture[str]
) -> None:
    ns = k8s_namespace
    assert deploy(kubectl_config(k8s_cluster, ns), refs={"hello": ref("v1")}).exit_code == 0
    before = snapshot(k8s_cluster, ns)
    capfd.readouterr()
    # From a pull request: a dry run changes nothing, so it is allowed anywhere.
    run = deploy(
        kubectl_config(k8s_cluster, ns),
        refs={"hello": ref("v2")},
        dry_run=True,
        env={"GITHUB_EVENT_NAME": "pull_request"},
    )
    assert run.exit_code == 0, run.error
    shown = capfd.readouterr().err
    assert snapshot(k8s_cluster, ns) == before
    assert f"image: {ref('v2')}" in shown  # the rendered objects
    assert f"-        image: {ref('v1')}" in shown and f"+        image: {ref('v2')}" in shown  # the diff
    assert "kubectl diff (1 objects would change)" in shown
    record = run.deployment()
    assert record["outcome"] == "dry-run" and record["changed"] == 1 and record["dry_run"] is True
    outputs = run.outputs()
    assert f"image: {ref('v2')}" in outputs["deploy/default/rendered.yaml"]
    assert f"+        image: {ref('v2')}" in outputs["deploy/default/diff.txt"]


def test_dry_run_into_an_empty_namespace_creates_nothing(
    deploy: Deploy, k8s_cluster: ControlPlane, k8s_namespace: str
) -> None:
    run = deploy(kubectl_config(k8s_cluster, k8s_namespace), refs={"hello": ref("v1")}, dry_run=True)
    assert run.exit_code == 0, run.error
    assert run.deployment()["changed"] == 2
    assert snapshot(k8s_cluster, k8s_namespace) == []


def test_helm_dry_run_templates_and_diffs_without_a_release(
    deploy: Deploy, k8s_cluster: ControlPlane, k8s_namespace: str, capfd: pytest.CaptureFixture[str]
) -> None:
    run = deploy(helm_config(k8s_cluster, k8s_namespace), refs={"hello": ref("v1")}, dry_run=True)
    assert run.exit_code == 0, run.error
    shown = capfd.readouterr().err
    assert f"image: {ref('v1')}" in shown
    assert "helm template hello (2 objects)" in shown
    assert json.loads(k8s_cluster.helm("list", "-n", k8s_namespace, "-o", "json").stdout) == []
    assert snapshot(k8s_cluster, k8s_namespace) == []
    assert run.deployment()["images"] == {"hello": ref("v1")}


def test_argo_dry_run_shows_the_patch_only(
    deploy: Deploy, k8s_cluster: ControlPlane, k8s_namespace: str, capfd: pytest.CaptureFixture[str]
) -> None:
    k8s_cluster.kubectl("apply", "-f", str(CRDS))
    k8s_cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/rollouts.argoproj.io")
    apply(
        k8s_cluster,
        k8s_namespace,
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "hello"},
            "spec": {"selector": {"matchLabels": {"app": "hello"}}, "template": pod_template(ref("v1"))},
        },
    )
    generation = get_json(k8s_cluster, "-n", k8s_namespace, ROLLOUT)["metadata"]["generation"]
    run = deploy(argo_config(k8s_cluster, k8s_namespace), refs={"hello": ref("v2")}, dry_run=True)
    assert run.exit_code == 0, run.error
    shown = capfd.readouterr().err
    assert f"Rollout/hello container hello: {ref('v1')} -> {ref('v2')}" in shown
    live = get_json(k8s_cluster, "-n", k8s_namespace, ROLLOUT)
    assert live["metadata"]["generation"] == generation
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == ref("v1")
    assert run.deployment()["digests"] == [digest("v2")]
