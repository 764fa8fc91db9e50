"""The ``helm-chart`` uploader on examples/hello: the chart packaged with the release's version and
this run's image digest, pushed to the real local registry (docker-registry, tests/harness/registry.py)
with Helm's media types, pulled back with ``helm pull`` and rendered with ``helm template``.

helm is the one built for the deploy tests (scripts/k8s/build.sh, via tests/harness/k8s.py).
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from tests.harness.k8s import ensure_binaries
from tests.harness.registry import Registry
from tests.plugins.upload.conftest import RunFn, artifacts, git

from gopipe_oci import HELM_CHART, HELM_CONFIG, RegistryClient

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
insecure = true

[tool.gopipe.upload.helm-chart]
registry = {{ env = "CHART_REG" }}
insecure = true
image_repository = "{host}/{{project}}/{{name}}"

[tool.gopipe.deploy.helm]
chart = "deploy/chart"
digest_value = "image.digest"
"""


def test_chart_is_pushed_with_the_image_digest_and_helm_renders_it(
    hello_repo: Path,
    plain_registry: Registry,
    gopipe_run: RunFn,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("CHART_REG", plain_registry.host)
    (hello_repo / "pyproject.toml").write_text(CONFIG.format(host=plain_registry.host))
    git(hello_repo, "add", "-A")
    git(hello_repo, "commit", "-qm", "chart config")
    git(hello_repo, "tag", "v2.3.4")
    result = gopipe_run(hello_repo, "package", "upload")
    assert result.exit_code == 0, json.dumps(result.report["stages"], indent=1)
    [image] = artifacts(result, "image")
    digest = image["extra"]["index_digest"]
    [chart] = artifacts(result, "helm-chart")
    extra = chart["extra"]
    assert (chart["name"], extra["version"], extra["image_digest"]) == ("hello-2.3.4.tgz", "2.3.4", digest)
    assert extra["reference"].startswith(f"oci://{plain_registry.host}/hello/charts/hello@sha256:")

    # the registry holds a Helm chart manifest: Helm's config and content media types
    client = RegistryClient(plain_registry.host, insecure=True)
    fetched = client.get_manifest("hello/charts/hello", "2.3.4")
    manifest = json.loads(fetched.data)
    assert manifest["config"]["mediaType"] == HELM_CONFIG
    assert [la["mediaType"] for la in manifest["layers"]] == [HELM_CHART]
    assert fetched.digest == extra["digest"]

    helm = str(ensure_binaries().helm)
    env = {
        "HELM_CONFIG_HOME": str(tmp_path / "h"),
        "HELM_CACHE_HOME": str(tmp_path / "c"),
        "PATH": "/usr/bin:/bin",
    }
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    pull = [helm, "pull", f"oci://{plain_registry.host}/hello/charts/hello", "--version", "2.3.4"]
    done = subprocess.run(
        [*pull, "--plain-http", "-d", str(pulled)], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    package = pulled / "hello-2.3.4.tgz"
    assert package.read_bytes() == (hello_repo / chart["path"]).read_bytes()
    with tarfile.open(package) as tar:
        chart_yaml = tar.extractfile("hello/Chart.yaml").read().decode()  # type: ignore[union-attr]
    assert 'version: "2.3.4"' in chart_yaml and 'appVersion: "2.3.4"' in chart_yaml
    rendered = subprocess.run(
        [helm, "template", "hello", str(package)], check=True, capture_output=True, text=True, env=env
    ).stdout
    assert f"{plain_registry.host}/hello/hello@{digest}" in rendered

    # one commit, one chart: a second run pushes the same digest
    again = gopipe_run(hello_repo, "package", "upload")
    assert artifacts(again, "helm-chart")[0]["extra"]["digest"] == extra["digest"]
