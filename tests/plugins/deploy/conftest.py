"""Fixtures for the deploy tests: a copy of examples/hello, a real cluster, one-call deploys.

Deploys run through ``gopipe.testing.run_stage`` (the real runner, report, events and logs)
with a plugin manager holding the built-ins plus :mod:`tests.plugins.deploy.recorded_images`, which
records ``image-ref`` artifacts the way the upload stage does. The cluster is the real control
plane from ``tests/harness/k8s.py`` (kwok fakes the nodes).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.harness.k8s import ControlPlane
from tests.plugins.deploy import recorded_images

from gopipe.artifacts import Artifact
from gopipe.context import RunArgs
from gopipe.manager import create_manager
from gopipe.report import StageResult
from gopipe.testing import StageRun, make_git_repo, run_stage

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = REPO_ROOT / "examples" / "hello"
CRDS = Path(__file__).parent / "crds"
REGISTRY = "registry.invalid/acme"

# Variables that would change which ref the run thinks it builds.
_CI_VARS = (
    "GITHUB_EVENT_NAME",
    "GITHUB_HEAD_REF",
    "GITHUB_REF_NAME",
    "GITHUB_REF_TYPE",
    "GITHUB_ACTIONS",
    "CI_PIPELINE_SOURCE",
    "GOPIPE_DEFAULT_BRANCH",
    "KUBECONFIG",
)


def digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def ref(seed: str, name: str = "hello") -> str:
    """A digest reference as the upload stage records it."""
    return f"{REGISTRY}/{name}@{digest(seed)}"


def get_json(cluster: ControlPlane, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


@dataclass
class DeployRun:
    """One deploy run: exit code, the deploy stage's result, its artifacts and outputs."""

    run: StageRun
    repo: Path

    @property
    def exit_code(self) -> int:
        return self.run.exit_code

    @property
    def stage(self) -> StageResult:
        return self.run.stage("deploy")

    @property
    def error(self) -> str:
        return self.stage.error or ""

    def deployments(self) -> list[Artifact]:
        return self.run.artifacts("deployment")

    def deployment(self, environment: str = "default") -> dict[str, Any]:
        found = [a for a in self.deployments() if a.name == environment]
        assert len(found) == 1, [a.name for a in self.deployments()]
        return dict(found[0].extra)

    def outputs(self) -> dict[str, str]:
        """Every file gopipe wrote under dist/gopipe (report, events, logs, dry-run output)."""
        out = self.repo / "dist" / "gopipe"
        return {
            str(p.relative_to(out)): p.read_text(errors="replace")
            for p in sorted(out.rglob("*"))
            if p.is_file()
        }


Deploy = Callable[..., DeployRun]


@pytest.fixture
def clean_ci_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs see a plain push to main unless a test says otherwise (CI may set these)."""
    for var in _CI_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def deploy_repo(tmp_path: Path, clean_ci_env: None) -> Path:
    """examples/hello (with its deploy/ manifests and chart) in a fresh git repository on main."""
    repo = tmp_path / "hello"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("dist", ".nox", "__pycache__"))
    return make_git_repo(repo)


@pytest.fixture
def deploy(k8s_cluster: ControlPlane, deploy_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Deploy:
    """``deploy(config, refs=..., env=..., environment=..., dry_run=...)`` runs the deploy stage.

    ``config`` is the ``[tool.gopipe.deploy]`` table; ``refs`` the image-ref artifacts the
    upload stage records (name -> reference). The cluster is reached through KUBECONFIG.
    """
    for key, value in k8s_cluster.env({}).items():
        if key.startswith("HELM_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("KUBECONFIG", str(k8s_cluster.kubeconfig))

    def run(
        config: dict[str, Any],
        *,
        refs: dict[str, str],
        env: dict[str, str] | None = None,
        environment: str | None = None,
        dry_run: bool = False,
        repo: Path | None = None,
    ) -> DeployRun:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        full = {
            "targets": ["linux/amd64"],
            "build": {"providers": []},
            "package": {"providers": []},
            "upload": {"providers": ["recorded-images"], "recorded-images": {"refs": refs}},
            "deploy": config,
        }
        pm = create_manager((), entry_points=False)
        pm.register(recorded_images, name="recorded-images")
        where = repo or deploy_repo
        result = run_stage(
            where,
            "deploy",
            config=full,
            pm=pm,
            env=dict(os.environ),
            args=RunArgs(pipeline="deploy", environment=environment, dry_run=dry_run),
        )
        return DeployRun(result, where)

    return run


def tools(cluster: ControlPlane) -> dict[str, Any]:
    """Provider options that point at the harness binaries (the ``kubectl``/``helm`` path options)."""
    return {"kubectl": str(cluster.bin_dir / "kubectl"), "poll_interval": 0.5}
