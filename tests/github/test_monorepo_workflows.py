"""The monorepo ci workflow: a module list job, a matrix over it, one summing ``ci`` job; it
passes actionlint, the workflow schema and zizmor with zero findings, as every workflow must."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.github.conftest import validate_workflows
from tests.monorepo.fixture import git, make_monorepo, write

from gopipe.github import CD_FILE, CI_FILE, WORKFLOW_DIR
from gopipe.init import init_github

pytestmark = pytest.mark.slow


@pytest.fixture
def mono(tmp_path: Path) -> Path:
    return make_monorepo(tmp_path / "mono")


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_monorepo_ci_is_a_matrix_over_changed_modules(mono: Path) -> None:
    assert init_github(mono)[0] == 0
    ci = _load(mono / WORKFLOW_DIR / CI_FILE)
    jobs = ci["jobs"]
    assert list(jobs) == ["modules", "module", "ci", "code-scanning"]
    listing = next(s for s in jobs["modules"]["steps"] if s.get("id") == "list")
    assert '--changed-since "origin/$GOPIPE_BASE_REF"' in listing["run"]
    assert listing["env"]["GOPIPE_BASE_REF"] == "${{ github.base_ref }}"  # never inline in the script
    assert jobs["module"]["strategy"]["matrix"]["module"] == "${{ fromJSON(needs.modules.outputs.modules) }}"
    run = next(s for s in jobs["module"]["steps"] if "nox -s ci" in s.get("run", ""))
    assert run["run"] == 'nox -s ci -- --module "$GOPIPE_MODULE"'
    assert jobs["ci"]["needs"] == ["modules", "module"] and jobs["ci"]["permissions"] == {}
    assert "pull_request" in ci["on"] and "workflow_call" not in ci["on"]
    # cd holds the same jobs, without caches, and every deploy job needs each gating one
    cd = _load(mono / WORKFLOW_DIR / CD_FILE)["jobs"]
    assert list(cd)[:4] == list(jobs)
    for job_id in ("modules", "module", "ci"):
        commands = [[s["run"] for s in job[job_id]["steps"] if "run" in s] for job in (cd, jobs)]
        assert commands[0] == commands[1], job_id
        assert not any(str(s.get("uses", "")).startswith("actions/cache") for s in cd[job_id]["steps"])
    deploys = list(cd)[4:]
    assert deploys and all(set(cd[d]["needs"]) >= {"modules", "module", "ci"} for d in deploys)
    assert init_github(mono, check=True)[0] == 0


def test_the_listing_step_gives_the_matrix_what_it_reads(mono: Path) -> None:
    """Run the listing script as the job does, and check the JSON fields the matrix uses."""
    assert init_github(mono)[0] == 0
    ci = _load(mono / WORKFLOW_DIR / CI_FILE)
    script = next(s for s in ci["jobs"]["modules"]["steps"] if s.get("id") == "list")["run"]
    git(mono, "branch", "base")
    write(mono / "libs/shared/more.go", "package shared\n\nconst More = 1\n")
    git(mono, "add", "-A")
    git(mono, "commit", "-qm", "more")
    git(mono, "update-ref", "refs/remotes/origin/base", "base")
    output = mono.parent / "github_output"
    shim = mono.parent / "bin"
    shim.mkdir()
    (shim / "gopipe").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m gopipe.cli "$@"\n')
    (shim / "gopipe").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}",
        "GOPIPE_EVENT": "pull_request",
        "GOPIPE_BASE_REF": "base",
        "GITHUB_OUTPUT": str(output),
    }
    subprocess.run(["bash", "-e", "-c", script], cwd=mono, env=env, check=True)
    line = output.read_text().strip()
    assert line.startswith("modules=")
    modules = json.loads(line.removeprefix("modules="))
    assert [(m["path"], m["slug"], m["out"]) for m in modules] == [
        ("libs/shared", "libs-shared", "libs/shared/dist/gopipe"),
        ("services/api", "services-api", "services/api/dist/gopipe"),
    ]


def test_monorepo_workflows_pass_actionlint_zizmor_and_schema(
    mono: Path, actionlint: Path, check_jsonschema: list[str], zizmor: Path
) -> None:
    assert init_github(mono)[0] == 0
    files = sorted((mono / WORKFLOW_DIR).glob("*.yml"))
    validate_workflows(files, actionlint, check_jsonschema, zizmor)


def test_a_module_that_signs_keyless_gives_the_cd_jobs_the_oidc_token(mono: Path) -> None:
    """``nox -s cd`` at the top runs every module in the cd job, so a module's own
    ``mode = "keyless"`` (not the top's) is enough for ``id-token: write`` and ``gopipe[keyless]``;
    ci jobs never get the token."""
    assert init_github(mono)[0] == 0
    assert "id-token" not in (mono / WORKFLOW_DIR / CD_FILE).read_text()  # nobody signs keyless yet
    config = mono / "services/web/pyproject.toml"
    config.write_text(
        config.read_text()
        + '[tool.gopipe.package]\nproviders = ["archive"]\n'
        + '[tool.gopipe.upload]\nproviders = ["sign"]\n[tool.gopipe.upload.sign]\nmode = "keyless"\n'
    )
    git(mono, "commit", "-qam", "web signs keyless")
    assert init_github(mono)[0] == 0
    cd = _load(mono / WORKFLOW_DIR / CD_FILE)["jobs"]
    signing = {j for j, job in cd.items() if "id-token" in (job.get("permissions") or {})}
    assert signing and all(cd[j]["permissions"] == {"contents": "read", "id-token": "write"} for j in signing)
    assert all(set(cd[j]["needs"]) >= {"modules", "module", "ci"} for j in signing)  # the deploy jobs only
    assert "gopipe[keyless]==" in (mono / WORKFLOW_DIR / CD_FILE).read_text()
    ci = _load(mono / WORKFLOW_DIR / CI_FILE)["jobs"]
    assert all("id-token" not in (job.get("permissions") or {}) for job in ci.values())
