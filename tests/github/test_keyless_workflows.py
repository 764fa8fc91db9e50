"""Keyless signing in the generated workflows: the job that signs (cd's, which runs upload)
gets ``id-token: write``, no other job does, and it installs gopipe with the keyless extra."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.github.conftest import validate_workflows
from tests.github.test_workflows import CD_CONFIG, configure, init_github, load, workflows

import gopipe
from gopipe.github import CD_FILE, CI_FILE, WORKFLOW_DIR

KEYLESS: dict[str, Any] = {
    "package": {"providers": ["archive"]},
    "upload": {"providers": ["sign"], "sign": {"mode": "keyless"}},
}


def _jobs(repo: Path, name: str) -> dict[str, Any]:
    jobs = load(repo / WORKFLOW_DIR / name)["jobs"]
    assert isinstance(jobs, dict)
    return jobs


def test_only_the_signing_job_may_ask_for_an_oidc_token(multi_repo: Path) -> None:
    configure(multi_repo, {"github": {"test_shards": 2, "build_matrix": True}, **KEYLESS})
    assert init_github(multi_repo) == 0
    cd = _jobs(multi_repo, CD_FILE)
    assert cd["cd"]["permissions"] == {"contents": "read", "id-token": "write"}
    others = {job_id: job.get("permissions") for job_id, job in cd.items() if job_id != "cd"}
    assert len(others) >= 4  # lint, test shards, build matrix, merge, code scanning
    assert all("id-token" not in (p or {}) for p in others.values()), others
    ci = _jobs(multi_repo, CI_FILE)
    assert all("id-token" not in (job.get("permissions") or {}) for job in ci.values())
    text = (multi_repo / WORKFLOW_DIR / CD_FILE).read_text()
    assert text.count("id-token: write") == 1
    assert "id-token: write # OIDC token for keyless signing (Sigstore)" in text
    assert "configure-aws-credentials" not in text  # no AWS step for a keyless-only job
    assert f"gopipe[keyless]=={gopipe.__version__}" in text


def test_each_deploy_job_signs_and_gets_the_token_with_both_reasons(multi_repo: Path) -> None:
    configure(multi_repo, {**CD_CONFIG, **KEYLESS})
    assert init_github(multi_repo) == 0
    cd = _jobs(multi_repo, CD_FILE)
    signing = {j for j, job in cd.items() if "id-token" in (job.get("permissions") or {})}
    assert signing == {"deploy-staging", "deploy-production"}  # each runs upload, so each signs
    for job_id in signing:
        assert cd[job_id]["permissions"] == {"contents": "read", "id-token": "write"}
    text = (multi_repo / WORKFLOW_DIR / CD_FILE).read_text()
    assert text.count("# OIDC token for the AWS role and keyless signing (Sigstore)") == 2


def test_key_based_signing_gets_no_oidc_token(multi_repo: Path) -> None:
    configure(multi_repo, {**KEYLESS, "upload": {"providers": ["sign"], "sign": {"mode": "key"}}})
    assert init_github(multi_repo) == 0
    for name in (CI_FILE, CD_FILE):
        text = (multi_repo / WORKFLOW_DIR / name).read_text()
        assert "id-token" not in text and "[keyless]" not in text


@pytest.mark.slow
def test_keyless_workflows_pass_actionlint_zizmor_and_schema(
    multi_repo: Path, actionlint: Path, check_jsonschema: list[str], zizmor: Path
) -> None:
    configure(multi_repo, {**CD_CONFIG, **KEYLESS})
    assert init_github(multi_repo) == 0
    validate_workflows(workflows(multi_repo), actionlint, check_jsonschema, zizmor)
