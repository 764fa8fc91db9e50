"""Leak test for the CD half: no secret value appears in anything gopipe writes or sends.

``gopipe run cd`` of examples/hello (a subprocess, so every byte of stdout/stderr is
captured) with every kind of CD credential in play, all referenced from config under
neutral names so that only gopipe's own masking can hide them:

- ``registry`` and ``oci-artifact`` upload: the htpasswd password of the real
  docker-registry (TLS), and the bearer-less basic auth header built from it;
- ``s3`` upload: moto's S3 server, with the AWS secret key in the environment;
- ``kubectl`` deploy: a base64 kubeconfig secret whose user authenticates with the test
  control plane's bearer token (written to a private temp file by gopipe);
- ``webhook`` notify: a URL carrying a token and an HMAC signing key; the receiver is a
  local HTTP server that records what it gets (it stands in for any JSON webhook endpoint).

The first run succeeds end to end; the second uses a wrong registry password, so upload
fails and deploy is skipped (the error path carries credentials too). Searched after each
run: stdout, stderr, every file under dist/ (reports, events, logs, layouts, archives,
binaries), every request the receiver got (path, headers, body). Allowed: the webhook
token in the request path the receiver itself was given.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tests.harness.k8s import ControlPlane
from tests.harness.moto_server import Moto
from tests.harness.registry import Registry

pytestmark = pytest.mark.slow

CONFIG = """
[tool.gopipe.upload]
providers = ["registry", "oci-artifact", "s3"]

[tool.gopipe.upload.registry]
registry = "{registry}"
username = "{username}"
password = {{ env = "REG_CRED" }}
ca_file = "{ca}"

[tool.gopipe.upload.oci-artifact]
registry = "{registry}"
username = "{username}"
password = {{ env = "REG_CRED" }}
ca_file = "{ca}"

[tool.gopipe.upload.s3]
bucket = "releases"
endpoint_url = "{s3}"

[tool.gopipe.deploy]
providers = ["kubectl"]

[tool.gopipe.deploy.kubectl]
manifests = "deploy/k8s"
timeout = 120
kubeconfig_secret = {{ env = "KUBE_BLOB" }}

[tool.gopipe.notify]
providers = ["webhook"]

[tool.gopipe.notify.webhook]
url = {{ env = "HOOK_URL" }}
secret = {{ env = "HOOK_SIGN" }}
retry.base_delay = 0.01
"""


class _Recorder(BaseHTTPRequestHandler):
    requests: list[bytes]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.requests.append(self.path.encode() + b"\n" + bytes(self.headers) + b"\n" + body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[bytes]]]:
    requests: list[bytes] = []
    handler = type("Recorder", (_Recorder,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()


def _kubeconfig(cluster: ControlPlane, namespace: str) -> str:
    config = json.loads(cluster.kubeconfig.read_text())
    config["contexts"][0]["context"]["namespace"] = namespace
    return base64.b64encode(json.dumps(config).encode()).decode()


def _leaks(haystacks: dict[str, bytes], needles: dict[str, str]) -> list[str]:
    found = []
    for label, value in needles.items():
        forms = {value, json.dumps(value)[1:-1]}
        for where, data in haystacks.items():
            if any(form.encode() in data for form in forms):
                found.append(f"{label} in {where}")
    return found


def _outputs(repo: Path, proc: subprocess.CompletedProcess[bytes], requests: list[bytes]) -> dict[str, bytes]:
    files = {str(p.relative_to(repo)): p.read_bytes() for p in (repo / "dist").rglob("*") if p.is_file()}
    return {
        "stdout": proc.stdout,
        "stderr": proc.stderr,
        **files,
        **{f"request {i}": r for i, r in enumerate(requests)},
    }


def test_cd_never_leaks_credentials(
    hello_repo: Path,
    registry: Registry,
    moto: Moto,
    k8s_cluster: ControlPlane,
    k8s_namespace: str,
    receiver: tuple[str, list[bytes]],
) -> None:
    assert registry.password and registry.username and registry.ca_cert
    base, requests = receiver
    hook_token, hook_sign = (f"{n}-{secrets.token_hex(12)}" for n in ("hooktok", "hooksign"))
    moto.client("s3").create_bucket(Bucket="releases")
    pyproject = hello_repo / "pyproject.toml"
    text = pyproject.read_text()
    text = text[: text.index("[tool.gopipe.upload]")]  # keep build/package tables, replace the rest
    pyproject.write_text(
        text
        + CONFIG.format(
            registry=registry.host, username=registry.username, ca=registry.ca_cert, s3=moto.endpoint_url
        )
    )
    subprocess.run(
        ["git", "commit", "-qam", "leak config"],
        cwd=hello_repo,
        check=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        },
    )
    kube_blob = _kubeconfig(k8s_cluster, k8s_namespace)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GOPIPE_", "KUBECONFIG", "AWS_"))
    }
    env.update(moto.env())
    aws_secret = f"awssecret-{secrets.token_hex(12)}"  # moto accepts any key; make it findable
    env["AWS_SECRET_ACCESS_KEY"] = aws_secret
    env.update(
        PATH=f"{k8s_cluster.bin_dir}:{env['PATH']}",
        REG_CRED=registry.password,
        KUBE_BLOB=kube_blob,
        HOOK_URL=f"{base}/hook?token={hook_token}",
        HOOK_SIGN=hook_sign,
    )
    needles = {
        "registry password": registry.password,
        "kubeconfig (base64)": kube_blob,
        "cluster token": k8s_cluster.token,
        "webhook token": hook_token,
        "webhook signing key": hook_sign,
        "AWS secret key": aws_secret,
    }

    def gopipe(extra: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "gopipe.cli", "run", "cd", "--target", "linux/amd64", "--plain"],
            cwd=hello_repo,
            env={**env, **extra},
            capture_output=True,
            timeout=900,
            check=False,
        )

    ok = gopipe({})
    assert ok.returncode == 0, (ok.stdout + ok.stderr).decode()[-4000:]
    report = json.loads((hello_repo / "dist/gopipe/report.json").read_text())
    assert {a["kind"] for a in report["artifacts"]} >= {"image-ref", "deployment", "archive"}
    assert len(requests) == 1 and b"/hook?token=" in requests[0]
    outputs = _outputs(hello_repo, ok, requests)
    outputs = {
        k: v.replace(f"/hook?token={hook_token}".encode(), b"/hook?token=ALLOWED") for k, v in outputs.items()
    }
    assert _leaks(outputs, needles) == []

    wrong = f"wrong-{secrets.token_hex(12)}"
    failed = gopipe({"REG_CRED": wrong})
    assert failed.returncode == 1
    report = json.loads((hello_repo / "dist/gopipe/report.json").read_text())
    statuses = {s["name"]: s["status"] for s in report["stages"]}
    assert (statuses["upload"], statuses["deploy"]) == ("failed", "skipped")
    outputs = _outputs(hello_repo, failed, requests[1:])
    outputs = {
        k: v.replace(f"/hook?token={hook_token}".encode(), b"/hook?token=ALLOWED") for k, v in outputs.items()
    }
    assert _leaks(outputs, {**needles, "wrong registry password": wrong}) == []
