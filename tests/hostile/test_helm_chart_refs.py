"""Hostile chart references and chart registry options of the helm deployer: each is a one-line
config error (exit 2) before any stage runs, naming the key; credentials written into a URL
are never echoed back, in any form."""

from __future__ import annotations

import pytest
from tests.hostile.conftest import Sandbox

pytestmark = pytest.mark.slow

URL_SECRET = "s3cr3t-" + "u" * 20
REGISTRY = 'chart_registry = { username = "ci", password = { env = "HOSTILE_CHART_PW" } }'


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ('chart = "http://127.0.0.1:5000/charts/hello-1.0.0.tgz"', "helm.chart"),
        ('chart = "file:///etc/passwd"', "helm.chart"),
        ('chart = "s3://bucket/chart.tgz"', "helm.chart"),
        (f'chart = "oci://ci:{URL_SECRET}@127.0.0.1:5000/charts/hello"', "helm.chart"),
        (f'chart = "https://{URL_SECRET}@charts.example.com/hello.tgz"', "helm.chart"),
        ('chart = "oci://127.0.0.1:5000/../../etc/passwd"', "helm.chart"),
        ('chart = "oci://127.0.0.1:5000/charts/%2e%2e/x"', "helm.chart"),
        ('chart = "oci://127.0.0.1:5000/Charts/Hello"', "helm.chart"),
        ('chart = "oci://127.0.0.1:5000/charts/hello?x=1"', "helm.chart"),
        ('chart = "oci:///charts/hello"', "helm.chart"),
        ('chart = "oci://127.0.0.1:5000/charts/hello\\n--set=x"', "helm.chart"),
        (f'chart = "deploy/chart"\n{REGISTRY}', "helm.chart_registry"),
        (
            'chart = "oci://127.0.0.1:5000/c/h"\nchart_registry = { password = { file = "pw.txt" } }',
            "helm.chart_registry.password",
        ),
        (
            'chart = "oci://registry.example.com/c/h"\nchart_registry = { plain_http = true }',
            "helm.chart_registry.plain_http",
        ),
        ("pushed_chart = true", "helm.pushed_chart"),
        ('chart = "oci://127.0.0.1:5000/c/h"\nchart_version = "1.0; rm -rf /"', "helm.chart_version"),
        ('chart_registry = { username = "ci", token = "x" }', "helm.chart_registry.token"),
    ],
    ids=[
        "http",
        "file",
        "s3",
        "oci-userinfo",
        "https-userinfo",
        "traversal",
        "encoded-traversal",
        "uppercase",
        "query",
        "no-host",
        "newline",
        "registry-for-local-chart",
        "password-from-file",
        "plain-http-remote",
        "pushed-without-uploader",
        "bad-version",
        "unknown-key",
    ],
)
def test_bad_chart_references_are_config_errors(
    sandbox: Sandbox, options: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSTILE_CHART_PW", sandbox.token)
    sandbox.config(
        'targets = ["linux/amd64"]\n[tool.gopipe.deploy]\nproviders = ["helm"]\n'
        f"[tool.gopipe.deploy.helm]\n{options}\n"
    )
    outcome = sandbox.run("run", "deploy", "--plain")
    sandbox.check(outcome, code=2, says=f"tool.gopipe.deploy.{key}", secrets=[URL_SECRET, sandbox.token])
    assert not (sandbox.repo / "dist" / "bin").exists()  # refused before the build
