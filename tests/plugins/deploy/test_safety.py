"""CI/CD separation: who may deploy where, in which order, and credentials that never leak."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.harness.k8s import ControlPlane
from tests.plugins.deploy.conftest import Deploy, get_json, ref, tools
from tests.plugins.deploy.test_kubectl import kubectl_config, never_ready_overlay

import gopipe_plugins
from gopipe.cli import main
from gopipe.testing import toml_dumps

pytestmark = pytest.mark.slow


def git(repo: Path, *args: str) -> None:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "PATH": os.environ["PATH"],
    }
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)


def deployments(cluster: ControlPlane, namespace: str) -> list[str]:
    return [d["metadata"]["name"] for d in get_json(cluster, "-n", namespace, "deployments")["items"]]


def test_pull_request_refuses_even_from_a_branch_named_main(
    deploy: Deploy, k8s_cluster: ControlPlane, k8s_namespace: str
) -> None:
    """A fork can name its branch main; the event decides. An environment may opt in."""
    pr = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_HEAD_REF": "main"}
    run = deploy(kubectl_config(k8s_cluster, k8s_namespace), refs={"hello": ref("v1")}, env=pr)
    assert run.exit_code == 1
    assert run.error == (
        "kubectl: deploy refused: pull request runs (GITHUB_EVENT_NAME=pull_request) do "
        "not deploy to default; allow it with allowed_refs in [tool.gopipe.deploy] "
        '("pull-request")'
    )
    assert run.deployment()["outcome"] == "refused"
    assert deployments(k8s_cluster, k8s_namespace) == []

    preview = kubectl_config(k8s_cluster, k8s_namespace)
    preview["environments"] = {"preview": {"namespace": k8s_namespace, "allowed_refs": ["pull-request"]}}
    allowed = deploy(preview, refs={"hello": ref("v1")}, env=pr)
    assert allowed.exit_code == 0, allowed.error
    assert deployments(k8s_cluster, k8s_namespace) == ["hello"]


def test_other_branch_refused_unless_the_environment_allows_it(
    deploy: Deploy, deploy_repo: Path, k8s_cluster: ControlPlane, k8s_namespace: str
) -> None:
    git(deploy_repo, "checkout", "-q", "-b", "feature/login")
    run = deploy(kubectl_config(k8s_cluster, k8s_namespace), refs={"hello": ref("v1")})
    assert run.exit_code == 1
    assert run.error == (
        "kubectl: deploy refused: branch 'feature/login' may not deploy to default "
        "(allowed: default branch 'main', version tags); allow it with allowed_refs in "
        "[tool.gopipe.deploy]"
    )
    config = kubectl_config(k8s_cluster, k8s_namespace)
    config["environments"] = {"dev": {"namespace": k8s_namespace, "allowed_refs": ["branch:feature/*"]}}
    allowed = deploy(config, refs={"hello": ref("v1")})
    assert allowed.exit_code == 0, allowed.error
    assert allowed.deployment("dev")["ref"] == "feature/login"


def two_environments(cluster: ControlPlane, staging: str, production: str) -> dict[str, Any]:
    config = kubectl_config(cluster, staging)
    config["environments"] = {
        "staging": {"namespace": staging},
        "production": {
            "namespace": production,
            "allowed_refs": ["release-tags"],
            "manifests": "deploy/overlays/production",
        },
    }
    return config


def test_environments_promote_in_order_as_far_as_the_ref_may(
    deploy: Deploy, deploy_repo: Path, k8s_cluster: ControlPlane, k8s_namespace: str
) -> None:
    """main reaches staging only; a version tag reaches staging, then production."""
    production = k8s_cluster.create_namespace("production")
    try:
        config = two_environments(k8s_cluster, k8s_namespace, production)
        run = deploy(config, refs={"hello": ref("v1")})
        assert run.exit_code == 0, run.error
        assert [a.name for a in run.deployments()] == ["staging"]
        assert "not promoted to production: this ref may not deploy there" in run.stage.summary
        assert deployments(k8s_cluster, production) == []

        git(deploy_repo, "tag", "v1.0.0")
        tagged = deploy(config, refs={"hello": ref("v2")})
        assert tagged.exit_code == 0, tagged.error
        assert [(a.name, a.extra["outcome"]) for a in tagged.deployments()] == [
            ("staging", "success"),
            ("production", "success"),
        ]
        assert tagged.deployment("production")["ref"] == "v1.0.0"
        prod = get_json(k8s_cluster, "-n", production, "deployment/hello")
        assert prod["spec"]["replicas"] == 3  # the production overlay
        assert prod["spec"]["template"]["spec"]["containers"][0]["image"] == ref("v2")

        only = deploy(config, refs={"hello": ref("v3")}, environment="production")
        assert only.exit_code == 0, only.error
        assert [a.name for a in only.deployments()] == ["production"]
    finally:
        k8s_cluster.delete_namespace(production)


def test_failed_environment_stops_the_promotion(
    deploy: Deploy, deploy_repo: Path, k8s_cluster: ControlPlane, k8s_namespace: str
) -> None:
    production = k8s_cluster.create_namespace("production")
    try:
        git(deploy_repo, "tag", "v1.0.0")
        config = two_environments(k8s_cluster, k8s_namespace, production)
        config["environments"]["staging"]["manifests"] = never_ready_overlay(
            deploy_repo, progress_deadline=None
        )
        config["environments"]["staging"]["timeout"] = 3
        run = deploy(config, refs={"hello": ref("v1")})
        assert run.exit_code == 1
        assert run.error.startswith("kubectl: staging: deployment/hello not ready after 3s")
        assert [a.name for a in run.deployments()] == ["staging"]
        assert deployments(k8s_cluster, production) == []
    finally:
        k8s_cluster.delete_namespace(production)


def test_unknown_environment_fails(deploy: Deploy, k8s_cluster: ControlPlane, k8s_namespace: str) -> None:
    config = two_environments(k8s_cluster, k8s_namespace, k8s_namespace)
    run = deploy(config, refs={"hello": ref("v1")}, environment="prod")
    assert run.exit_code == 2
    assert run.run.report.stages == []  # refused before any stage ran
    assert run.run.report.error == (
        "command line: --env: no environment 'prod' in [tool.gopipe.deploy.environments] "
        "(fix: choose one of: staging, production)"
    )


@pytest.mark.parametrize(
    ("deploy_table", "message"),
    [
        (
            {"providers": ["kubectl"], "allowed_refs": ["main"]},
            "tool.gopipe.deploy.allowed_refs: 'main' is not an allowed-ref entry",
        ),
        (
            {"providers": ["kubectl"], "environments": {"staging": {"namespce": "x"}}},
            "tool.gopipe.deploy.environments.staging.namespce: unknown key 'namespce' (fix: did you mean "
            "'namespace'?)",
        ),
        (
            {"providers": ["kubectl"], "environments": {"staging": {"provider": "helm"}}},
            "tool.gopipe.deploy.environments.staging.provider: provider 'helm' is not selected",
        ),
        (
            {"providers": ["kubectl"], "environments": {"staging": {"values": {"replicaCount": 3}}}},
            "tool.gopipe.deploy.environments.staging.values: values apply to helm, but staging deploys with "
            "kubectl",
        ),
        (
            {"providers": ["kubectl"], "environments": {"staging": {"kubeconfig_secret": "apiVersion: v1"}}},
            "tool.gopipe.deploy.environments.staging.kubeconfig_secret: plaintext secret in config",
        ),
    ],
)
def test_bad_deploy_config_is_a_usage_error(
    deploy_repo: Path, capsys: pytest.CaptureFixture[str], deploy_table: dict[str, Any], message: str
) -> None:
    """Checked before anything runs: exit code 2 and one line naming the key (no cluster needed)."""
    (deploy_repo / "pyproject.toml").write_text(
        toml_dumps({"tool": {"gopipe": {"targets": ["linux/amd64"], "deploy": deploy_table}}})
    )
    assert main(["run", "cd", "-C", str(deploy_repo), "--plain"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def inline_kubeconfig(cluster: ControlPlane) -> str:
    """The cluster's kubeconfig with the CA inlined, as CI secrets carry it (YAML is JSON here)."""
    config = json.loads(cluster.kubeconfig.read_text())
    ca = Path(config["clusters"][0]["cluster"].pop("certificate-authority")).read_bytes()
    config["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(ca).decode()
    return json.dumps(config, indent=2)


def watch_private_files(found: list[tuple[str, int, int]], stop: threading.Event) -> None:
    """Record the modes of gopipe's private kubeconfig copies while the deploy runs."""
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    while not stop.is_set():
        for kc in tmp.glob("gopipe-deploy-*/kubeconfig"):
            with contextlib.suppress(FileNotFoundError):
                modes = (stat.S_IMODE(kc.parent.stat().st_mode), stat.S_IMODE(kc.stat().st_mode))
                found.append((str(kc), *modes))
        time.sleep(0.02)


def test_kubeconfig_secret_never_appears_in_any_output(
    deploy_repo: Path,
    k8s_cluster: ControlPlane,
    k8s_namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Base64 kubeconfig in an innocuously named variable: deploy, dry run and a failure, via the CLI.

    Every output is grepped for the token, the CA data, the base64 blob and the raw kubeconfig:
    stdout, stderr, report.json, events.jsonl, the stage logs and the dry-run files. The
    private copy must be 0600 in a 0700 directory while it exists, and gone afterwards.
    """
    raw = inline_kubeconfig(k8s_cluster)
    blob = base64.b64encode(raw.encode()).decode()
    ca_data = json.loads(raw)["clusters"][0]["cluster"]["certificate-authority-data"]
    monkeypatch.setenv("HELLO_CLUSTER", blob)  # a name the core's env heuristics do not mask
    monkeypatch.setenv("PATH", f"{k8s_cluster.bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(
        gopipe_plugins,
        "BUILTIN_PLUGINS",
        (*gopipe_plugins.BUILTIN_PLUGINS, ("recorded-images", "tests.plugins.deploy.recorded_images")),
    )
    deploy_table = {
        "providers": ["kubectl"],
        "kubectl": {
            "namespace": k8s_namespace,
            "kubeconfig_secret": {"env": "HELLO_CLUSTER"},
            "poll_interval": 0.5,
            "timeout": 60,
        },
    }
    (deploy_repo / "pyproject.toml").write_text(
        toml_dumps(
            {
                "tool": {
                    "gopipe": {
                        "targets": ["linux/amd64"],
                        "build": {"providers": []},
                        "package": {"providers": []},
                        "upload": {
                            "providers": ["recorded-images"],
                            "recorded-images": {"refs": {"hello": ref("v1")}},
                        },
                        "deploy": deploy_table,
                    }
                }
            }
        )
    )
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("gopipe-deploy-*"))
    seen: list[tuple[str, int, int]] = []
    stop = threading.Event()
    watcher = threading.Thread(target=watch_private_files, args=(seen, stop), daemon=True)
    watcher.start()
    outputs: dict[str, str] = {}
    try:
        for args in (["deploy"], ["deploy", "--dry-run"], ["deploy", "--env", "nope"]):
            code = main(["run", *args, "-C", str(deploy_repo), "--plain"])
            assert code == (2 if "nope" in args else 0)
            captured = capfd.readouterr()
            outputs[f"{args} stdout"], outputs[f"{args} stderr"] = captured.out, captured.err
            out = deploy_repo / "dist" / "gopipe"
            for path in out.rglob("*"):
                if path.is_file():
                    outputs[f"{args} {path.relative_to(out)}"] = path.read_text(errors="replace")
    finally:
        stop.set()
        watcher.join(5)
    assert "deploy success" in outputs["['deploy'] stdout"]
    assert "kubectl diff" in outputs["['deploy', '--dry-run'] stdout"]
    assert any(name.endswith("logs/deploy.log") for name in outputs)
    assert any(name.endswith("events.jsonl") for name in outputs)
    secrets = {
        "token": k8s_cluster.token,
        "ca data": ca_data,
        "base64 kubeconfig": blob,
        "raw kubeconfig": raw,
        "a base64 slice": blob[100:140],
    }
    for where, text in outputs.items():
        for what, value in secrets.items():
            assert value not in text, f"{what} leaked into {where}"
    assert seen, "the private kubeconfig copy was never observed"
    assert {(d, f) for _p, d, f in seen} == {(0o700, 0o600)}
    assert set(Path(os.environ.get("TMPDIR", "/tmp")).glob("gopipe-deploy-*")) == before
    assert get_json(k8s_cluster, "-n", k8s_namespace, "deployment/hello")["status"]["readyReplicas"] == 2


def test_missing_kubeconfig_secret_is_one_clear_line(
    deploy: Deploy, k8s_cluster: ControlPlane, k8s_namespace: str
) -> None:
    config = kubectl_config(k8s_cluster, k8s_namespace, kubeconfig_secret={"env": "NO_SUCH_KUBECONFIG"})
    run = deploy(config, refs={"hello": ref("v1")})
    assert run.exit_code == 1
    assert run.error == (
        "kubectl: kubeconfig_secret (env:NO_SUCH_KUBECONFIG): environment variable "
        "NO_SUCH_KUBECONFIG is not set"
    )
    assert tools(k8s_cluster)  # the path options were in effect
