"""One short proof per service fixture that the real service works end to end."""

from __future__ import annotations

import base64
import http.client
import json
import os
import smtplib
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path

import pytest
from tests.harness import procs, skopeo
from tests.harness.buildah import Buildah
from tests.harness.dockerd import Dockerd
from tests.harness.faulty_proxy import FaultyRegistry
from tests.harness.moto_server import Moto
from tests.harness.pushgateway import Pushgateway
from tests.harness.registry import Registry
from tests.harness.smtp import SmtpServer

pytestmark = pytest.mark.slow

HELLO_GO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello from scratch") }\n'
DOCKERFILE = 'FROM scratch\nCOPY hello /hello\nENTRYPOINT ["/hello"]\n'


@pytest.fixture(scope="module")
def hello_context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build context with a static Go binary and a FROM scratch Dockerfile."""
    go = procs.require_binary("go", "golang (or Go from go.dev in /usr/local/go)")
    ctx = tmp_path_factory.mktemp("hello")
    (ctx / "main.go").write_text(HELLO_GO)
    (ctx / "go.mod").write_text("module hello\n\ngo 1.22\n")
    env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-trimpath"}
    subprocess.run([go, "build", "-o", "hello", "."], cwd=ctx, env=env, check=True, timeout=300)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "main.go").unlink()  # keep the context to what the image needs
    (ctx / "go.mod").unlink()
    return ctx


@pytest.fixture(scope="module")
def oci_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A one-layer OCI layout built with umoci, as a skopeo `oci:` reference."""
    umoci = procs.require_binary("umoci", "umoci")
    tmp = tmp_path_factory.mktemp("oci")
    layout = tmp / "layout"
    (tmp / "hello.txt").write_text("hello\n")
    for args in (
        ["init", "--layout", str(layout)],
        ["new", "--image", f"{layout}:v1"],
        ["insert", "--image", f"{layout}:v1", str(tmp / "hello.txt"), "/hello.txt"],
        ["config", "--image", f"{layout}:v1", "--config.cmd", "/hello.txt"],
    ):
        subprocess.run([umoci, *args], check=True, capture_output=True, timeout=60)
    return f"oci:{layout}:v1"


def _get(url: str, *, auth: Registry | None = None, context: ssl.SSLContext | None = None) -> int:
    headers = {}
    if auth is not None and auth.username and auth.password:
        token = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_registry_requires_tls_and_auth(registry: Registry) -> None:
    assert registry.ca_cert is not None and registry.url.startswith("https://")
    ca = ssl.create_default_context(cafile=str(registry.ca_cert))
    assert _get(f"{registry.url}/v2/", context=ca) == 401
    assert _get(f"{registry.url}/v2/", auth=registry, context=ca) == 200
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        _get(f"{registry.url}/v2/", context=ssl.create_default_context())  # system CAs
    assert registry.env()["REGISTRY_USERNAME"] == registry.username


def test_registry_push_and_pull_by_digest(registry: Registry, oci_image: str, tmp_path: Path) -> None:
    tagged = skopeo.ref(registry, "gopipe/umoci", "v1")
    skopeo.copy(oci_image, tagged, dest_registry=registry)
    digest = skopeo.digest(tagged, registry)
    by_digest = skopeo.ref(registry, "gopipe/umoci", digest)
    assert skopeo.digest(by_digest, registry) == digest
    skopeo.copy(by_digest, f"oci:{tmp_path / 'back'}:v1", src_registry=registry)
    index = json.loads((tmp_path / "back" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
    assert (registry.root / "docker" / "registry" / "v2" / "repositories" / "gopipe").is_dir()


def test_plain_registry_without_auth(plain_registry: Registry, oci_image: str) -> None:
    assert plain_registry.url.startswith("http://") and plain_registry.username is None
    assert _get(f"{plain_registry.url}/v2/") == 200
    skopeo.copy(oci_image, skopeo.ref(plain_registry, "plain/umoci", "v1"), dest_registry=plain_registry)
    with urllib.request.urlopen(f"{plain_registry.url}/v2/plain/umoci/tags/list") as resp:
        assert json.load(resp)["tags"] == ["v1"]


def test_faulty_proxy_injects_faults_and_counts(faulty_registry: FaultyRegistry, oci_image: str) -> None:
    proxy, front = faulty_registry.proxy, faulty_registry.front
    up = 401 if front.username else 200

    proxy.fail(500, method="GET", path="^/v2/$", times=2)
    assert [_get(f"{front.url}/v2/") for _ in range(3)] == [500, 500, up]
    assert proxy.count("GET", "^/v2/$") == 3

    proxy.drop(method="GET", path="^/v2/$")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
        _get(f"{front.url}/v2/")
    assert _get(f"{front.url}/v2/", auth=front) == 200

    proxy.delay(0.5, path="^/v2/$")
    started = time.monotonic()
    assert _get(f"{front.url}/v2/", auth=front) == 200
    assert time.monotonic() - started >= 0.5

    # A full push streams POST/PATCH/PUT through the proxy (Location rewritten);
    # skopeo retries the whole blob upload after the dropped PATCH.
    proxy.drop(method="PATCH", path="/blobs/uploads/.")
    tagged = skopeo.ref(front, "faulty/umoci", "v1")
    skopeo.copy(oci_image, tagged, dest_registry=front, retries=3)
    assert [a for a, m, _ in proxy.injected if m == "PATCH"] == ["drop"]
    assert proxy.count("PATCH", "/blobs/uploads/.") == 3  # 2 blobs + 1 retry
    assert proxy.count("PUT", "/manifests/v1$") == 1
    # A dropped connection is retried too.
    proxy.drop(method="GET", path="/manifests/v1$")
    before = proxy.count("GET", "/manifests/v1$")
    digest = skopeo.digest(tagged, front, retries=3)
    assert proxy.count("GET", "/manifests/v1$") - before == 2
    backend = faulty_registry.backend
    assert skopeo.digest(skopeo.ref(backend, "faulty/umoci", "v1"), backend) == digest


def test_dockerd_builds_runs_and_pushes_scratch_image(
    dockerd: Dockerd, hello_context: Path, plain_registry: Registry, registry: Registry
) -> None:
    assert dockerd.host.startswith("unix://") and "DOCKER_CONFIG" in dockerd.env()
    dockerd.run("build", "-t", "gopipe/hello:test", str(hello_context))
    out = dockerd.run("run", "--rm", "--network", "none", "gopipe/hello:test").stdout
    assert out.strip() == "hello from scratch"

    plain_ref = f"{plain_registry.host}/gopipe/hello:docker"
    dockerd.run("tag", "gopipe/hello:test", plain_ref)
    dockerd.run("push", plain_ref)  # plain HTTP: 127.0.0.0/8 is an insecure registry range

    dockerd.trust(registry)
    assert registry.username is not None and registry.password is not None
    dockerd.run("login", "-u", registry.username, "--password-stdin", registry.host,
                input=registry.password)  # fmt: skip
    tls_ref = f"{registry.host}/gopipe/hello:docker"
    dockerd.run("tag", "gopipe/hello:test", tls_ref)
    dockerd.run("push", tls_ref)
    digest = skopeo.digest(f"docker://{tls_ref}", registry)
    assert skopeo.digest(f"docker://{plain_ref}", plain_registry) == digest


def test_buildah_builds_scratch_and_pushes(
    buildah: Buildah, hello_context: Path, plain_registry: Registry, registry: Registry
) -> None:
    buildah.run("bud", "--isolation", "chroot", "-f", str(hello_context / "Dockerfile"),
                "-t", "localhost/gopipe/hello:buildah", str(hello_context))  # fmt: skip
    for reg in (plain_registry, registry):
        dest = f"docker://{reg.host}/gopipe/hello:buildah"
        buildah.run("push", *buildah.registry_args(reg), "localhost/gopipe/hello:buildah", dest)
        info = skopeo.inspect(dest, reg)
        assert info["Digest"].startswith("sha256:") and len(info["Layers"]) == 1
        config = json.loads(skopeo.run(["inspect", "--config", *skopeo.registry_args(reg), dest]))
        assert config["config"]["Entrypoint"] == ["/hello"]


def test_pushgateway_shows_pushed_metric(pushgateway: Pushgateway) -> None:
    body = b'# TYPE gopipe_deploy_timestamp gauge\ngopipe_deploy_timestamp{env="ci"} 1700000000\n'
    req = urllib.request.Request(f"{pushgateway.url}/metrics/job/gopipe/app/hello", data=body, method="PUT")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    text = pushgateway.metrics()
    assert 'gopipe_deploy_timestamp{app="hello",env="ci",instance="",job="gopipe"} 1.7e+09' in text
    assert "push_time_seconds{" in text


def test_moto_ecr_and_s3(moto: Moto) -> None:
    ecr = moto.client("ecr")
    repo = ecr.create_repository(repositoryName="gopipe/hello", imageTagMutability="IMMUTABLE")
    assert repo["repository"]["repositoryName"] == "gopipe/hello"
    auth = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(auth["authorizationToken"]).decode().partition(":")
    assert user == "AWS" and password and auth["proxyEndpoint"]

    s3 = moto.client("s3")
    s3.create_bucket(Bucket="gopipe-artifacts")
    s3.put_object(Bucket="gopipe-artifacts", Key="dist/hello.tar.gz", Body=b"payload")
    got = s3.get_object(Bucket="gopipe-artifacts", Key="dist/hello.tar.gz")
    assert got["Body"].read() == b"payload"
    assert moto.env()["AWS_ENDPOINT_URL"] == moto.endpoint_url


def test_smtp_starttls_auth_receives_message(smtp_server: SmtpServer) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "ci@example.test", "dev@example.test", "build ok"
    msg.set_content("pipeline passed")
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        client.ehlo()
        code, _ = client.mail("ci@example.test")
        assert code == 530  # STARTTLS required first
        client.rset()
        client.starttls(context=ssl.create_default_context(cafile=str(smtp_server.ca_cert)))
        client.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(smtp_server.username, "wrong")
        client.login(smtp_server.username, smtp_server.password)
        client.send_message(msg)
    [received] = smtp_server.wait_for(1)
    assert received.message["Subject"] == "build ok"
    assert received.rcpt_tos == ["dev@example.test"]
    assert smtp_server.logins == [smtp_server.username]
