"""The helm deployer installs the chart the upload stage pushed, from ``oci://``, at its digest.

Real components end to end, in one ``gopipe run deploy`` (build → package → upload → deploy):
go build, the ``oci-image`` packager, the ``registry`` and ``helm-chart`` uploaders pushing to
Debian's docker-registry with TLS and htpasswd (``registry`` fixture: its CA certificate and
user come in through the environment, as in CI), and ``helm upgrade --install
oci://127.0.0.1:PORT/hello/charts/hello@sha256:… --version 1.4.0`` against the test control
plane (kube-apiserver + etcd, kwok runs the pods). helm pulls the chart from the registry with
the credentials gopipe wrote to a private registry config; the test then reads the release back
with helm and kubectl.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.harness.k8s import ControlPlane
from tests.harness.registry import Registry
from tests.plugins.deploy.conftest import get_json

from gopipe.testing import RunResult

pytestmark = pytest.mark.slow

CONFIG = """[tool.gopipe]
main = ["./cmd/hello"]
targets = ["linux/amd64"]

[tool.gopipe.package]
providers = ["oci-image"]

[tool.gopipe.upload]
providers = ["registry", "helm-chart"]

[tool.gopipe.upload.registry]
registry = {{ env = "CHART_REG" }}
username = {{ env = "CHART_REG_USER" }}
password = {{ env = "CHART_REG_PASSWORD" }}
ca_file = {{ env = "CHART_REG_CA" }}

[tool.gopipe.upload.helm-chart]
registry = {{ env = "CHART_REG" }}
username = {{ env = "CHART_REG_USER" }}
password = {{ env = "CHART_REG_PASSWORD" }}
ca_file = {{ env = "CHART_REG_CA" }}
image_repository = "{host}/hello/{{name}}"

[tool.gopipe.deploy]
providers = ["helm"]

[tool.gopipe.deploy.helm]
helm = "{helm}"
kubectl = "{kubectl}"
namespace = "{namespace}"
poll_interval = 0.5
pushed_chart = true
values = {{ replicaCount = 1 }}

[tool.gopipe.deploy.helm.chart_registry]
username = {{ env = "CHART_REG_USER" }}
password = {{ env = "CHART_REG_PASSWORD" }}
ca_file = {{ env = "CHART_REG_CA" }}
"""


def git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "gopipe",
        "GIT_AUTHOR_EMAIL": "ci@example.com",
        "GIT_COMMITTER_NAME": "gopipe",
        "GIT_COMMITTER_EMAIL": "ci@example.com",
    }
    subprocess.run(["git", *args], cwd=repo, check=True, env=env, capture_output=True)


def test_deploy_installs_the_pushed_oci_chart_at_its_digest(
    deploy_repo: Path,
    registry: Registry,
    k8s_cluster: ControlPlane,
    k8s_namespace: str,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert registry.username and registry.password and registry.ca_cert
    for key, value in k8s_cluster.env({}).items():
        if key.startswith("HELM_") or key == "KUBECONFIG":
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("CHART_REG", registry.host)
    monkeypatch.setenv("CHART_REG_USER", registry.username)
    monkeypatch.setenv("CHART_REG_PASSWORD", registry.password)
    monkeypatch.setenv("CHART_REG_CA", str(registry.ca_cert))
    (deploy_repo / "pyproject.toml").write_text(
        CONFIG.format(
            host=registry.host,
            helm=k8s_cluster.bin_dir / "helm",
            kubectl=k8s_cluster.bin_dir / "kubectl",
            namespace=k8s_namespace,
        )
    )
    git(deploy_repo, "add", "-A")
    git(deploy_repo, "commit", "-q", "-m", "deploy the pushed chart")
    git(deploy_repo, "tag", "v1.4.0")

    result = gopipe_run(deploy_repo, "deploy")
    output = capsys.readouterr()
    assert result.exit_code == 0, output.out[-4000:]
    assert [s["name"] for s in result.report["stages"]] == ["build", "package", "upload", "deploy"]
    [chart] = [a for a in result.report["artifacts"] if a["kind"] == "helm-chart"]
    [image] = [a for a in result.report["artifacts"] if a["kind"] == "image-ref"]
    [deployed] = [a for a in result.report["artifacts"] if a["kind"] == "deployment"]
    reference = chart["extra"]["reference"]
    assert reference.startswith(f"oci://{registry.host}/hello/charts/hello@sha256:")
    assert chart["extra"]["version"] == "1.4.0"
    assert deployed["extra"]["chart"] == reference
    assert deployed["extra"]["outcome"] == "success"

    # the release runs the chart that was pushed, pinned to the pushed image
    [listed] = json.loads(k8s_cluster.helm("list", "-n", k8s_namespace, "-o", "json").stdout)
    assert (listed["name"], listed["chart"], listed["app_version"]) == ("hello", "hello-1.4.0", "1.4.0")
    values = json.loads(k8s_cluster.helm("get", "values", "hello", "-n", k8s_namespace, "-o", "json").stdout)
    image_digest = image["extra"]["digest"]
    assert values["image"] == {"repository": f"{registry.host}/hello/hello", "digest": image_digest}
    assert values["replicaCount"] == 1
    # the chart's own values.yaml (as packaged and pushed) already carried that digest
    every = json.loads(
        k8s_cluster.helm("get", "values", "hello", "-n", k8s_namespace, "--all", "-o", "json").stdout
    )
    assert every["image"]["digest"] == image_digest == chart["extra"]["image_digest"]
    dep = get_json(k8s_cluster, "-n", k8s_namespace, "deployment/hello")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == image["extra"]["reference"]

    # the credentials went to helm through a file that is gone, and were never printed
    auth = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    written = [p for p in (deploy_repo / "dist" / "gopipe").rglob("*") if p.is_file()]
    dist = "".join(p.read_text(errors="replace") for p in written if p.suffix in (".json", ".jsonl", ".log"))
    for text in (output.out, output.err, dist):
        assert registry.password not in text and auth not in text
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("gopipe-deploy-*/registry-config.json"))

    # a fixed reference works the same way: chart = "oci://…" with chart_version, revision 2
    config = (deploy_repo / "pyproject.toml").read_text()
    fixed = f'chart = "oci://{registry.host}/hello/charts/hello"\nchart_version = "1.4.0"'
    (deploy_repo / "pyproject.toml").write_text(config.replace("pushed_chart = true", fixed))
    git(deploy_repo, "commit", "-qam", "deploy a fixed chart reference")
    git(deploy_repo, "tag", "-f", "v1.4.0")
    again = gopipe_run(deploy_repo, "deploy")
    assert again.exit_code == 0, capsys.readouterr().out[-4000:]
    [deployed] = [a for a in again.report["artifacts"] if a["kind"] == "deployment"]
    assert deployed["extra"]["chart"] == f"oci://{registry.host}/hello/charts/hello"
    assert deployed["extra"]["revision"] == {"release/hello": "2"}
    [listed] = json.loads(k8s_cluster.helm("list", "-n", k8s_namespace, "-o", "json").stdout)
    assert listed["chart"] == "hello-1.4.0"
