"""``require_signed = true``: deploy refuses, before applying anything, an image that lacks a
signature or SLSA provenance by the configured key; signed by the real cosign CLI, it deploys.

The image is a small OCI artifact pushed with the real ``oras`` to docker-registry 2.8 (kwok
never pulls it); ``cosign sign`` and ``cosign attest --type slsaprovenance1`` then sign it in
cosign's tag scheme, so the check also shows gopipe accepts what cosign itself writes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.harness.cosign import cosign, generate_key, tool
from tests.harness.k8s import ControlPlane
from tests.harness.registry import Registry
from tests.plugins.deploy.conftest import Deploy, get_json, tools

pytestmark = pytest.mark.slow  # a control plane, a registry and the cosign/oras CLIs

PASSWORD = "deploy-signing-password-1"


def _push(registry: Registry, tmp_path: Path) -> str:
    (tmp_path / "payload.txt").write_text("not really an image\n")
    target = f"{registry.host}/hello:v1"
    subprocess.run(
        [str(tool("oras")), "push", "--plain-http", target, "payload.txt"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [str(tool("oras")), "resolve", "--plain-http", target], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


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
