"""``nox -s cd`` on examples/hello with its own config: build, image, push, deploy, for real.

Real components end to end: go build, the ``oci-image`` packager, Debian's docker-registry with
TLS + htpasswd (``registry`` fixture), and the kubectl deployer against the test control plane,
reached only through ``KUBECONFIG`` (its context's namespace is the test namespace), as the
example's comment promises. kwok runs the pods, so the pushed image is never pulled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scripts.demo_env import demo_env
from tests.harness.k8s import ControlPlane
from tests.harness.registry import Registry
from tests.plugins.deploy.conftest import get_json

pytestmark = pytest.mark.slow


def test_nox_cd_deploys_the_digest_the_upload_stage_pushed(
    deploy_repo: Path, registry: Registry, k8s_cluster: ControlPlane, k8s_namespace: str, tmp_path: Path
) -> None:
    config = json.loads(k8s_cluster.kubeconfig.read_text())
    config["contexts"][0]["context"]["namespace"] = k8s_namespace
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps(config))
    env = {**k8s_cluster.env(dict(os.environ)), **demo_env(registry), "KUBECONFIG": str(kubeconfig)}
    proc = subprocess.run(
        [sys.executable, "-m", "nox", "-s", "cd", "--", "--target", "linux/amd64", "--plain"],
        cwd=deploy_repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    report = json.loads((deploy_repo / "dist" / "gopipe" / "report.json").read_text())
    [pushed] = [a for a in report["artifacts"] if a["kind"] == "image-ref"]
    [deployed] = [a for a in report["artifacts"] if a["kind"] == "deployment"]
    reference = pushed["extra"]["reference"]
    assert reference.startswith(f"{registry.host}/hello/hello@sha256:")
    assert deployed["extra"]["images"] == {"hello": reference}
    assert deployed["extra"]["namespace"] == k8s_namespace
    assert deployed["extra"]["outcome"] == "success"
    dep = get_json(k8s_cluster, "-n", k8s_namespace, "deployment/hello")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == reference
    assert dep["status"]["readyReplicas"] == 2
    assert registry.password and registry.password not in output
    assert k8s_cluster.token not in output
