"""``require_signed = true``: deploy refuses, before applying anything, an image that lacks a
signature or SLSA provenance by the configured key; signed by the real cosign CLI, it deploys.

The image is a small OCI artifact pushed with the real ``oras`` (kwok never pulls it);
``cosign sign`` and ``cosign attest --type slsaprovenance1`` then sign it, so the check also
shows gopipe accepts what cosign itself writes, in each of cosign's storage formats:

- the tag scheme (``--new-bundle-format=false``), on docker-registry 2.8;
- cosign v3's default, Sigstore bundles as OCI 1.1 referrers, on the registry with the
  referrers API (no ``.sig`` tag exists there);
- the same bundles on docker-registry 2.8 with TLS from a private CA and a login, where
  cosign falls back to the referrers tag schema and gopipe needs ``signature_ca_file``;
- keyless: ``cosign sign``/``attest`` with an Actions-shaped OIDC token against the local
  Fulcio and Rekor of ``tests/harness/local_sigstore.py`` (the public Sigstore cannot be
  reached from here), checked by ``certificate_identity[_regexp]`` and the issuer against
  that instance's trusted root.
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
from tests.harness.cosign import CosignKey, cosign, generate_key, offline_signing_config, tool
from tests.harness.k8s import ControlPlane
from tests.harness.local_sigstore import LocalSigstore
from tests.harness.referrers_registry import ReferrersRegistry
from tests.harness.registry import Registry
from tests.harness.sigstore_endpoints import job_token
from tests.plugins.deploy.conftest import Deploy, get_json, tools

pytestmark = pytest.mark.slow  # a control plane, a registry and the cosign/oras CLIs

PASSWORD = "deploy-signing-password-1"


def _push(registry: Registry | ReferrersRegistry, tmp_path: Path, access: list[str] | None = None) -> str:
    (tmp_path / "payload.txt").write_text("not really an image\n")
    target = f"{registry.host}/hello:v1"
    access = access if access is not None else ["--plain-http"]
    subprocess.run(
        [str(tool("oras")), "push", *access, target, "payload.txt"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [str(tool("oras")), "resolve", *access, target], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def _predicate(tmp_path: Path) -> Path:
    predicate = tmp_path / "predicate.json"
    predicate.write_text(
        json.dumps({"buildDefinition": {"buildType": "x"}, "runDetails": {"builder": {"id": "y"}}})
    )
    return predicate


def _bundle_sign_and_attest(key: CosignKey, reference: str, tmp_path: Path, access: list[str]) -> None:
    """cosign v3's default format: Sigstore bundles, key only, no transparency log."""
    env = {"COSIGN_PASSWORD": key.password}
    common = ["--key", str(key.private), "--signing-config", str(offline_signing_config(tmp_path / "sc"))]
    common += [*access, "-y"]
    signed = cosign("sign", *common, reference, env=env)
    assert signed.returncode == 0, signed.stderr
    attested = cosign(
        "attest", *common, "--type", "slsaprovenance1", "--predicate", str(_predicate(tmp_path)), reference,
        env=env,
    )  # fmt: skip
    assert attested.returncode == 0, attested.stderr


def test_unsigned_images_are_refused_before_apply_and_signed_ones_deploy(
    deploy: Deploy,
    deploy_repo: Path,
    k8s_cluster: ControlPlane,
    k8s_namespace: str,
    plain_registry: Registry,
    tmp_path: Path,
) -> None:
    key = generate_key(tmp_path / "keys", PASSWORD)
    (deploy_repo / "cosign.pub").write_bytes(key.public.read_bytes())
    digest = _push(plain_registry, tmp_path)
    reference = f"{plain_registry.host}/hello@{digest}"
    config = {
        "providers": ["kubectl"],
        "kubectl": {**tools(k8s_cluster), "namespace": k8s_namespace},
        "require_signed": True,
        "public_key": "cosign.pub",
        "signature_insecure": True,
    }

    refused = deploy(config, refs={"hello": reference})
    assert refused.exit_code == 1
    assert refused.error.startswith(
        f"kubectl: deploy refused (require_signed): {plain_registry.host}/hello@{digest[:19]}: "
    ), refused.error
    assert "no cosign signature" in refused.error and "no SLSA provenance" in refused.error
    found = subprocess.run(
        [tools(k8s_cluster)["kubectl"], "--kubeconfig", str(k8s_cluster.kubeconfig), "-n", k8s_namespace,
         "get", "deployment/hello"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert found.returncode != 0 and "NotFound" in found.stderr  # nothing was applied

    env = {"COSIGN_PASSWORD": PASSWORD}
    common = ["--key", str(key.private), "--tlog-upload=false", "--new-bundle-format=false"]
    common += ["--use-signing-config=false", "--allow-http-registry", "-y"]
    signed = cosign("sign", *common, reference, env=env)
    assert signed.returncode == 0, signed.stderr
    half = deploy(config, refs={"hello": reference})  # a signature but no provenance
    assert (
        half.exit_code == 1
        and "no SLSA provenance" in half.error
        and "signature" not in half.error.split(":")[-1]
    )

    predicate = tmp_path / "predicate.json"
    predicate.write_text(
        json.dumps({"buildDefinition": {"buildType": "x"}, "runDetails": {"builder": {"id": "y"}}})
    )
    attested = cosign(
        "attest", *common, "--type", "slsaprovenance1", "--predicate", str(predicate), reference, env=env
    )
    assert attested.returncode == 0, attested.stderr
    ok = deploy(config, refs={"hello": reference})
    assert ok.exit_code == 0, ok.error
    dep = get_json(k8s_cluster, "-n", k8s_namespace, "deployment/hello")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == reference


def test_cosign_v3_bundles_found_through_the_referrers_api_are_accepted(
    deploy: Deploy,
    deploy_repo: Path,
    k8s_cluster: ControlPlane,
    k8s_namespace: str,
    referrers_registry: ReferrersRegistry,
    tmp_path: Path,
) -> None:
    key = generate_key(tmp_path / "keys", PASSWORD)
    (deploy_repo / "cosign.pub").write_bytes(key.public.read_bytes())
    digest = _push(referrers_registry, tmp_path)
    reference = f"{referrers_registry.host}/hello@{digest}"
    config = {
        "providers": ["kubectl"],
        "kubectl": {**tools(k8s_cluster), "namespace": k8s_namespace},
        "require_signed": True,
        "public_key": "cosign.pub",
        "signature_insecure": True,
    }
    refused = deploy(config, refs={"hello": reference})
    assert refused.exit_code == 1 and "no cosign signature" in refused.error, refused.error

    _bundle_sign_and_attest(key, reference, tmp_path, ["--allow-http-registry"])
    tags = json.loads(
        urllib.request.urlopen(f"{referrers_registry.url}/v2/hello/tags/list", timeout=10).read()
    )["tags"]
    assert tags == ["v1"]  # no tag scheme: the signature and provenance are referrers only
    ok = deploy(config, refs={"hello": reference})
    assert ok.exit_code == 0, ok.error
    dep = get_json(k8s_cluster, "-n", k8s_namespace, "deployment/hello")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == reference

    stranger = generate_key(tmp_path / "stranger", "stranger-password-9")
    (deploy_repo / "cosign.pub").write_bytes(stranger.public.read_bytes())
    other = deploy(config, refs={"hello": reference})
    assert other.exit_code == 1 and "no signature by the configured key" in other.error, other.error


def test_a_registry_with_a_private_ca_needs_signature_ca_file(
    deploy: Deploy,
    deploy_repo: Path,
    k8s_cluster: ControlPlane,
    k8s_namespace: str,
    registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docker-registry 2.8 over TLS from a throw-away CA, with a login (read from the Docker
    config, as for every require_signed check). It has no referrers API, so cosign v3 keeps its
    bundles in the referrers tag schema (an index at ``sha256-<hex>``), which gopipe reads too."""
    assert registry.ca_cert is not None and registry.username and registry.password
    login = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(json.dumps({"auths": {registry.host: {"auth": login}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(docker))
    access = ["--ca-file", str(registry.ca_cert), "-u", registry.username, "-p", registry.password]
    key = generate_key(tmp_path / "keys", PASSWORD)
    (deploy_repo / "cosign.pub").write_bytes(key.public.read_bytes())
    digest = _push(registry, tmp_path, access)
    reference = f"{registry.host}/hello@{digest}"
    config = {
        "providers": ["kubectl"],
        "kubectl": {**tools(k8s_cluster), "namespace": k8s_namespace},
        "require_signed": True,
        "public_key": "cosign.pub",
    }
    untrusted = deploy(config, refs={"hello": reference})
    assert untrusted.exit_code == 1 and "cannot read its signatures" in untrusted.error, untrusted.error
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.error or "certificate" in untrusted.error

    (deploy_repo / "certs").mkdir()
    (deploy_repo / "certs" / "registry-ca.pem").write_bytes(registry.ca_cert.read_bytes())
    config["signature_ca_file"] = "certs/registry-ca.pem"
    unsigned = deploy(config, refs={"hello": reference})
    assert unsigned.exit_code == 1 and "no cosign signature" in unsigned.error, unsigned.error

    cosign_access = ["--registry-cacert", str(registry.ca_cert)]
    cosign_access += ["--registry-username", registry.username, "--registry-password", registry.password]
    _bundle_sign_and_attest(key, reference, tmp_path, cosign_access)
    listed = subprocess.run(
        [str(tool("oras")), "repo", "tags", *access, f"{registry.host}/hello"],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    assert sorted(listed) == sorted(["v1", digest.replace(":", "-")]), listed  # the referrers tag schema only
    ok = deploy(config, refs={"hello": reference})
    assert ok.exit_code == 0, ok.error
    assert registry.password not in "".join(ok.outputs().values())  # the login is never written


WORKFLOW_REF = "octo/hello/.github/workflows/gopipe-cd.yml@refs/tags/v1.2.3"
IDENTITY = f"https://github.com/{WORKFLOW_REF}"
ISSUER = "https://token.actions.githubusercontent.com"


def _keyless_sign(sigstore: LocalSigstore, reference: str, tmp_path: Path, workflow_ref: str) -> None:
    """cosign v3 keyless: an ephemeral key, a Fulcio certificate for the token's workflow,
    Rekor entries; Sigstore bundles as referrers (or the referrers tag schema)."""
    (tmp_path / "signing-config.json").write_text(
        json.dumps(json.loads(sigstore.trust_config_json())["signingConfig"])
    )
    (tmp_path / "root.json").write_text(sigstore.trusted_root_json())
    common = [
        "--identity-token", job_token("sigstore", workflow_ref),
        "--signing-config", str(tmp_path / "signing-config.json"),
        "--trusted-root", str(tmp_path / "root.json"),
        "--allow-http-registry", "-y",
    ]  # fmt: skip
    signed = cosign("sign", *common, reference)
    assert signed.returncode == 0, signed.stderr
    attested = cosign(
        "attest", *common, "--type", "slsaprovenance1", "--predicate", str(_predicate(tmp_path)), reference
    )
    assert attested.returncode == 0, attested.stderr


@pytest.mark.parametrize("where", ["referrers-api", "tag-schema"])
def test_keyless_signatures_are_checked_by_identity_and_issuer(
    deploy: Deploy,
    deploy_repo: Path,
    k8s_cluster: ControlPlane,
    k8s_namespace: str,
    referrers_registry: ReferrersRegistry,
    plain_registry: Registry,
    tmp_path: Path,
    where: str,
) -> None:
    """A keyless signature counts only when its certificate chains to the trusted root, is in
    its Rekor log, and names the configured identity and issuer; another workflow's does not."""
    sigstore = LocalSigstore("deploy-keyless-request-token", WORKFLOW_REF)
    try:
        registry: Registry | ReferrersRegistry = (
            referrers_registry if where == "referrers-api" else plain_registry
        )
        digest = _push(registry, tmp_path)
        reference = f"{registry.host}/hello@{digest}"
        (deploy_repo / "sigstore").mkdir()
        (deploy_repo / "sigstore" / "trusted_root.json").write_text(sigstore.trusted_root_json())
        config = {
            "providers": ["kubectl"],
            "kubectl": {**tools(k8s_cluster), "namespace": k8s_namespace},
            "require_signed": True,
            "certificate_identity": IDENTITY,
            "certificate_oidc_issuer": ISSUER,
            "trusted_root": "sigstore/trusted_root.json",
            "signature_insecure": True,
        }
        unsigned = deploy(config, refs={"hello": reference})
        assert unsigned.exit_code == 1, unsigned.error
        assert (
            "no signature by the configured identity" in unsigned.error
            and "no SLSA provenance" in unsigned.error
        )

        # signed by another workflow of the same repository: refused, and the reason is named
        _keyless_sign(sigstore, reference, tmp_path, WORKFLOW_REF.replace("gopipe-cd.yml", "other.yml"))
        other = deploy(config, refs={"hello": reference})
        assert other.exit_code == 1 and "no signature by the configured identity" in other.error, other.error
        assert "other.yml" in other.error  # the rejected certificate's identity, in the reason
        assert get_json(k8s_cluster, "-n", k8s_namespace, "deployments")["items"] == []  # nothing applied

        _keyless_sign(sigstore, reference, tmp_path, WORKFLOW_REF)
        ok = deploy(config, refs={"hello": reference})
        assert ok.exit_code == 0, ok.error
        dep = get_json(k8s_cluster, "-n", k8s_namespace, "deployment/hello")
        assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == reference

        # a pattern, as cosign's --certificate-identity-regexp
        by_pattern = {k: v for k, v in config.items() if k != "certificate_identity"}
        by_pattern["certificate_identity_regexp"] = (
            r"^https://github\.com/octo/hello/\.github/workflows/gopipe-cd\.yml@refs/tags/v"
        )
        assert deploy(by_pattern, refs={"hello": reference}).exit_code == 0
        by_pattern["certificate_identity_regexp"] = r"^https://github\.com/octo/other/"
        assert deploy(by_pattern, refs={"hello": reference}).exit_code == 1
        # the right identity from another issuer does not count
        wrong_issuer = {**config, "certificate_oidc_issuer": "https://accounts.example.test"}
        refused = deploy(wrong_issuer, refs={"hello": reference})
        assert refused.exit_code == 1 and "no signature by the configured identity" in refused.error
        # nor does the same signature against another instance's trusted root
        stranger = LocalSigstore("another-request-token", WORKFLOW_REF)
        try:
            (deploy_repo / "sigstore" / "trusted_root.json").write_text(stranger.trusted_root_json())
        finally:
            stranger.close()
        untrusted = deploy(config, refs={"hello": reference})
        assert untrusted.exit_code == 1 and "rejected" in untrusted.error, untrusted.error
    finally:
        sigstore.close()
