"""`gopipe init --github`: the generated workflows are valid (actionlint, zizmor, the
workflow schema), gate cd on ci and on the deploy refs, keep secrets and permissions to the
steps and jobs that need them, pin what they install, and `--check` catches drift."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from tests.github.conftest import MULTI, validate_workflows
from tests.github.expressions import evaluate, filter_matches

import gopipe
from gopipe.cli import main
from gopipe.config import load_config, parse_options
from gopipe.errors import ConfigError
from gopipe.git import UNKNOWN
from gopipe.github import CD_FILE, CI_FILE, WORKFLOW_DIR, load_github_options, render_workflows
from gopipe.github import refs as github_refs
from gopipe.github.actions import KNOWN_PINS, PROVENANCE
from gopipe.github.workflow import STATUS_FUNCTIONS
from gopipe.github.yaml import Block, Commented, dump, scalar
from gopipe.testing import make_git_repo, toml_dumps
from gopipe_plugins.deploy import options as deploy_options
from gopipe_plugins.deploy import refs as deploy_refs

ROOT = Path(__file__).resolve().parents[2]
USES = re.compile(r"^\s*(?:- )?uses: (?P<action>[\w./-]+)@(?P<ref>\S+)(?: # (?P<comment>\S+))?$")
PINNED = f"gopipe=={gopipe.__version__}"

FAN_OUT = {"test_shards": 3, "build_matrix": True}
CD_CONFIG: dict[str, Any] = {
    "github": {
        "test_shards": 4,
        "build_matrix": True,
        "aws_role": "arn:aws:iam::123456789012:role/gopipe",
        "aws_region": "eu-west-1",
        "secrets": ["EXTRA_TOKEN"],
        "runs_on": "ubuntu-24.04",
    },
    "notify": {"providers": ["slack"], "slack": {"webhook": {"env": "SLACK_WEBHOOK_URL"}}},
    "deploy": {
        "providers": ["kubectl"],
        "environments": {
            "staging": {"namespace": "staging", "url": "https://staging.example.com"},
            "production": {
                "namespace": "prod",
                "kubeconfig_secret": {"env": "PROD_KUBECONFIG"},
                "allowed_refs": ["release-tags"],
                "url": "https://example.com",
            },
        },
    },
}


def configure(repo: Path, extra: dict[str, Any], **top: Any) -> None:
    """Add tables under [tool.gopipe] (and top-level keys such as requires) to pyproject.toml."""
    pyproject = repo / "pyproject.toml"
    text = pyproject.read_text()
    if top:
        keys = toml_dumps({"tool": {"gopipe": top}}).split("[tool.gopipe]\n", 1)[1]
        text = text.replace("[tool.gopipe]\n", "[tool.gopipe]\n" + keys, 1)
    if extra:
        # toml_dumps writes [tool] / [tool.gopipe] headers; keep only the sub-tables.
        text += "\n" + toml_dumps({"tool": {"gopipe": extra}}).split("[tool.gopipe]\n", 1)[1]
    pyproject.write_text(text)


def init_github(repo: Path, *flags: str) -> int:
    return main(["init", "--github", *flags, "-C", str(repo)])


def workflows(repo: Path) -> list[Path]:
    return [repo / WORKFLOW_DIR / CI_FILE, repo / WORKFLOW_DIR / CD_FILE]


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith(action + "@")]


def runs(job: dict[str, Any]) -> list[str]:
    return [s["run"] for s in job.get("steps", []) if "run" in s]


@pytest.fixture
def mono_repo(tmp_path: Path) -> Path:
    """A git repository whose Go module (the multi fixture) sits in services/api."""
    repo = tmp_path / "mono"
    module = repo / "services" / "api"
    shutil.copytree(MULTI, module, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    (repo / "README.md").write_text("monorepo\n")
    return make_git_repo(repo)


# -- validity ------------------------------------------------------------------------------
@pytest.mark.slow
def test_hello_workflows_pass_actionlint_zizmor_and_schema(
    hello_repo: Path, actionlint: Path, check_jsonschema: list[str], zizmor: Path
) -> None:
    assert init_github(hello_repo) == 0
    assert (hello_repo / "noxfile.py").is_file()  # nox -s ci needs it
    validate_workflows(workflows(hello_repo), actionlint, check_jsonschema, zizmor)


@pytest.mark.slow
@pytest.mark.parametrize(
    "variant",
    [
        {},
        FAN_OUT,
        {"test_shards": 5},
        {"build_matrix": True},
        "cd",
        "release-branches",
    ],
    ids=["single-job", "shards+matrix", "shards-only", "matrix-only", "environments+oidc", "ref-globs"],
)
def test_multi_package_workflows_pass_actionlint_zizmor_and_schema(
    multi_repo: Path,
    variant: dict[str, Any] | str,
    actionlint: Path,
    check_jsonschema: list[str],
    zizmor: Path,
) -> None:
    if variant == "cd":
        configure(multi_repo, CD_CONFIG, requires=["gopipe-teams>=1.0"])
    elif variant == "release-branches":
        configure(
            multi_repo,
            {
                "deploy": {
                    "providers": ["helm"],
                    "allowed_refs": ["branch:release/*", "tag:deploy-[0-9]*", "pull-request"],
                }
            },
        )
    else:
        configure(multi_repo, {"github": variant} if variant else {})
    assert init_github(multi_repo) == 0
    validate_workflows(workflows(multi_repo), actionlint, check_jsonschema, zizmor)


@pytest.mark.slow
def test_subdirectory_module_workflows_pass_actionlint_zizmor_and_schema(
    mono_repo: Path, actionlint: Path, check_jsonschema: list[str], zizmor: Path
) -> None:
    configure(mono_repo / "services" / "api", {"github": FAN_OUT})
    assert init_github(mono_repo / "services" / "api") == 0
    validate_workflows(workflows(mono_repo), actionlint, check_jsonschema, zizmor)


@pytest.mark.slow
def test_project_workflows_pass_actionlint_zizmor_and_schema(
    actionlint: Path, check_jsonschema: list[str], zizmor: Path
) -> None:
    files = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
    assert files, "the project's own CI lives in .github/workflows/"
    validate_workflows(files, actionlint, check_jsonschema, zizmor)


# -- idempotence and --check ------------------------------------------------------------------
def test_regenerating_is_byte_identical(multi_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure(multi_repo, CD_CONFIG)
    assert init_github(multi_repo) == 0
    first = [p.read_bytes() for p in workflows(multi_repo)]
    assert init_github(multi_repo) == 0
    assert [p.read_bytes() for p in workflows(multi_repo)] == first
    assert "gopipe-ci.yml is up to date" in capsys.readouterr().out
    config = load_config(multi_repo)
    assert render_workflows(config, "main") == render_workflows(config, "main")


def test_check_passes_when_current_and_names_a_hand_edit(
    hello_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init_github(hello_repo, "--check") == 1
    assert "gopipe-ci.yml is missing" in capsys.readouterr().out
    assert init_github(hello_repo) == 0
    capsys.readouterr()
    assert init_github(hello_repo, "--check") == 0
    ci = hello_repo / WORKFLOW_DIR / CI_FILE
    ci.write_text(ci.read_text().replace("timeout-minutes: 60", "timeout-minutes: 5", 1))
    assert init_github(hello_repo, "--check") == 1
    out = capsys.readouterr().out
    assert ".github/workflows/gopipe-ci.yml is stale" in out
    assert "-    timeout-minutes: 5" in out and "gopipe-cd.yml is up to date" in out
    assert "timeout-minutes: 5" in ci.read_text()  # --check writes nothing


def test_check_catches_a_config_change(hello_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert init_github(hello_repo) == 0
    configure(hello_repo, {"github": {"test_shards": 2}})
    assert init_github(hello_repo, "--check") == 1
    assert "gopipe-ci.yml is stale" in capsys.readouterr().out


def test_check_needs_github(hello_repo: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["init", "--check", "-C", str(hello_repo)])
    assert exc.value.code == 2


@pytest.mark.parametrize("variant", [{}, FAN_OUT], ids=["single-job", "fan-out"])
def test_ci_runs_the_staleness_check_once_before_the_stages(
    multi_repo: Path, variant: dict[str, Any]
) -> None:
    configure(multi_repo, {"github": variant} if variant else {})
    assert init_github(multi_repo) == 0
    jobs = load(multi_repo / WORKFLOW_DIR / CI_FILE)["jobs"]
    checks = [(j, runs(job)) for j, job in jobs.items() if "gopipe init --github --check" in runs(job)]
    assert len(checks) == 1, checks
    job, commands = checks[0]
    assert job == next(iter(jobs))  # the first job, so a stale workflow fails fast
    assert commands.index("gopipe init --github --check") == commands.index(commands[0]) + 1  # after install
    assert commands[0].startswith("python -m pip install")


# -- pins and provenance -------------------------------------------------------------------------
def test_every_action_is_pinned_by_sha_with_its_version(multi_repo: Path) -> None:
    configure(multi_repo, CD_CONFIG)
    assert init_github(multi_repo) == 0
    seen = set()
    for path in workflows(multi_repo):
        for line in path.read_text().splitlines():
            if "uses:" not in line:
                continue
            m = USES.match(line)
            assert m, line
            assert re.fullmatch(r"[0-9a-f]{40}", m["ref"]), line
            repo = "/".join(m["action"].split("/")[:2])
            assert m["comment"] == KNOWN_PINS[repo].version and m["ref"] == KNOWN_PINS[repo].sha
            seen.add(repo)
    assert seen == set(KNOWN_PINS)


def test_every_pin_says_where_it_came_from() -> None:
    assert set(PROVENANCE) == set(KNOWN_PINS)
    for action, pin in KNOWN_PINS.items():
        assert pin.version in PROVENANCE[action] and "Not checked live" in PROVENANCE[action], action


def test_gopipe_and_the_config_requires_are_installed_pinned(multi_repo: Path) -> None:
    configure(multi_repo, CD_CONFIG, requires=["gopipe-teams>=1.0", "gopipe>=0.1"])
    assert init_github(multi_repo) == 0
    expected = f"python -m pip install --disable-pip-version-check {PINNED} 'gopipe-teams>=1.0'"
    for path in workflows(multi_repo):
        installs = [
            s["run"]
            for job in load(path)["jobs"].values()
            for s in job.get("steps", [])
            if "pip install" in s.get("run", "")
        ]
        assert installs and set(installs) == {expected}, path


def test_a_requirement_that_excludes_this_gopipe_is_refused(
    hello_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(hello_repo, {}, requires=["gopipe>=99"])
    assert init_github(hello_repo) == 2
    err = capsys.readouterr().err
    assert f"'gopipe>=99' excludes gopipe {gopipe.__version__}" in err and "tool.gopipe.requires" in err


def test_gopipe_requirement_override_must_be_exact(multi_repo: Path) -> None:
    configure(multi_repo, {"github": {"gopipe_requirement": "gopipe==0.1.0"}})
    assert init_github(multi_repo) == 0
    assert (
        "pip install --disable-pip-version-check gopipe==0.1.0\n"
        in (multi_repo / WORKFLOW_DIR / CI_FILE).read_text()
    )


# -- ci ------------------------------------------------------------------------------------------
def test_single_job_ci(hello_repo: Path) -> None:
    assert init_github(hello_repo) == 0
    ci = load(hello_repo / WORKFLOW_DIR / CI_FILE)
    assert set(ci["on"]) == {"pull_request", "merge_group", "workflow_dispatch"}
    assert ci["permissions"] == {}
    assert ci["env"] == {"GOPIPE_DEFAULT_BRANCH": "main"}
    assert ci["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    assert "defaults" not in ci  # the module is the repository root
    assert list(ci["jobs"]) == ["ci", "code-scanning"]
    job = ci["jobs"]["ci"]
    assert job["permissions"] == {"contents": "read"}
    steps = job["steps"]
    assert steps[0]["with"] == {"fetch-depth": 0, "persist-credentials": False}
    assert steps[1]["with"]["go-version-file"] == "go.mod"
    caches = {s["with"]["path"]: s["with"]["key"] for s in steps_using(job, "actions/cache")}
    assert set(caches) == {"~/go/pkg/mod", "~/.cache/go-build", "~/.cache/gopipe"}
    assert "hashFiles('**/go.sum')" in caches["~/go/pkg/mod"]
    assert "hashFiles('go.mod', '**/go.sum')" in caches["~/.cache/gopipe"]
    assert runs(job) == [
        f"python -m pip install --disable-pip-version-check {PINNED}",
        "gopipe init --github --check",
        "nox -s ci",
    ]
    assert "env" not in job and all("env" not in s for s in steps)  # no secrets referenced


def test_fan_out_ci_uses_matrices_and_a_merge_job(multi_repo: Path) -> None:
    configure(multi_repo, {"github": FAN_OUT, "notify": {"slack": {"webhook": {"env": "SLACK_WEBHOOK_URL"}}}})
    assert init_github(multi_repo) == 0
    ci = load(multi_repo / WORKFLOW_DIR / CI_FILE)
    jobs = ci["jobs"]
    assert list(jobs) == ["lint", "test", "build", "merge", "code-scanning"]
    assert jobs["test"]["strategy"] == {"fail-fast": False, "matrix": {"shard": [1, 2, 3]}}
    shard = next(s for s in jobs["test"]["steps"] if s.get("name") == "Test one shard")
    # matrix values reach the shell through env, never spliced into the script
    assert shard["run"] == 'nox -s test -- --shard "$GOPIPE_SHARD/3" --no-notify'
    assert shard["env"] == {"GOPIPE_SHARD": "${{ matrix.shard }}"}
    targets = [i["target"] for i in jobs["build"]["strategy"]["matrix"]["include"]]
    assert targets == ["linux/amd64", "linux/arm64"]
    uploads = {
        j: steps_using(job, "actions/upload-artifact")[0]["with"]
        for j, job in jobs.items()
        if j != "code-scanning"
    }
    assert uploads["test"]["name"] == "gopipe-part-test-${{ matrix.shard }}"
    assert uploads["test"]["path"] == "dist/gopipe" and uploads["build"]["path"] == "dist"
    merge = jobs["merge"]
    assert merge["needs"] == ["lint", "test", "build"] and merge["if"] == "${{ !cancelled() }}"
    assert steps_using(merge, "actions/download-artifact")[0]["with"] == {
        "pattern": "gopipe-part-*",
        "path": "parts",
    }
    merge_step = next(s for s in merge["steps"] if s.get("run") == "gopipe merge parts")
    # notify secrets only on the step where notify runs: not on the job, not on other steps
    assert merge_step["env"] == {"SLACK_WEBHOOK_URL": "${{ secrets.SLACK_WEBHOOK_URL }}"}
    for name, job in jobs.items():
        assert "env" not in job, name
        for step in job["steps"]:
            if step is not merge_step:
                assert "secrets." not in str(step), (name, step)


def test_code_scanning_is_the_only_job_that_may_write_security_events(multi_repo: Path) -> None:
    configure(multi_repo, {"github": FAN_OUT})
    assert init_github(multi_repo) == 0
    jobs = load(multi_repo / WORKFLOW_DIR / CI_FILE)["jobs"]
    writers = [j for j, job in jobs.items() if "security-events" in job.get("permissions", {})]
    assert writers == ["code-scanning"]
    scan = jobs["code-scanning"]
    assert scan["permissions"] == {"actions": "read", "contents": "read", "security-events": "write"}
    assert scan["needs"] == ["merge"]
    assert evaluate(scan["if"].replace("!cancelled()", "true"), {"github.event_name": "pull_request"})
    assert evaluate(scan["if"].replace("!cancelled()", "true"), {"github.event_name": "push"})
    assert not evaluate(scan["if"].replace("!cancelled()", "true"), {"github.event_name": "merge_group"})
    assert runs(scan) == []  # runs no project code while holding the write token
    (upload,) = steps_using(scan, "github/codeql-action/upload-sarif")
    assert upload["with"]["sarif_file"] == "dist/gopipe/lint.sarif"
    assert steps_using(scan, "actions/download-artifact")[0]["with"] == {
        "name": "gopipe-ci",
        "path": "dist/gopipe",
    }
    assert scan["steps"][0]["with"] == {"persist-credentials": False}


def test_no_code_scanning_without_lint(multi_repo: Path) -> None:
    pyproject = multi_repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('providers = ["gofmt", "govet"]', "providers = []"))
    assert init_github(multi_repo) == 0
    ci = load(multi_repo / WORKFLOW_DIR / CI_FILE)
    cd = load(multi_repo / WORKFLOW_DIR / CD_FILE)
    assert list(ci["jobs"]) == ["ci"]
    assert cd["jobs"]["ci"]["permissions"] == {"contents": "read"}


# -- cd: gating --------------------------------------------------------------------------------
def needs_closure(jobs: dict[str, Any], job_id: str) -> set[str]:
    seen: set[str] = set()
    todo = list(jobs[job_id].get("needs", []))
    while todo:
        need = todo.pop()
        if need not in seen:
            seen.add(need)
            todo.extend(jobs[need].get("needs", []))
    return seen


def would_run(job: dict[str, Any], ref: str, event: str = "push") -> bool:
    """Whether GitHub starts ``job`` for this ref once everything it needs succeeded."""
    condition = job.get("if")
    if condition is None:
        return True
    return evaluate(condition, {"github.ref": ref, "github.event_name": event})


def job_results(jobs: dict[str, Any], failing: set[str], ref: str = "refs/tags/v1.2.3") -> dict[str, str]:
    """What GitHub makes of one run where the jobs in ``failing`` fail when they run.

    A job whose ``if:`` names no status function gets the implicit ``success()``: it runs
    only when every job it needs succeeded; ``!cancelled()`` runs after failures too.
    """
    results: dict[str, str] = {}
    while len(results) < len(jobs):
        for job_id, job in jobs.items():
            needs = job.get("needs", [])
            if job_id in results or any(n not in results for n in needs):
                continue
            condition = str(job.get("if", ""))
            if "!cancelled()" in condition:
                start = evaluate(
                    condition.replace("!cancelled()", "true"),
                    {"github.ref": ref, "github.event_name": "push"},
                )
            else:
                start = all(results[n] == "success" for n in needs) and would_run(job, ref)
            results[job_id] = ("failure" if job_id in failing else "success") if start else "skipped"
    return results


@pytest.mark.parametrize("variant", [{}, {"github": FAN_OUT}], ids=["single-job", "fan-out"])
def test_cd_cannot_deploy_a_commit_whose_ci_failed(multi_repo: Path, variant: dict[str, Any]) -> None:
    configure(
        multi_repo,
        {
            **CD_CONFIG,
            "github": {
                **CD_CONFIG["github"],
                **variant.get("github", {"test_shards": 1, "build_matrix": False}),
            },
        },
    )
    assert init_github(multi_repo) == 0
    cd = load(multi_repo / WORKFLOW_DIR / CD_FILE)
    ci = load(multi_repo / WORKFLOW_DIR / CI_FILE)
    jobs = cd["jobs"]
    # ci's own jobs run inside the cd run, on its commit: no reusable-workflow call and no
    # workflow_run trigger that could pair a deploy with another commit's ci
    assert set(cd["on"]) == {"push", "workflow_dispatch"}
    assert "workflow_call" not in ci["on"]
    assert all("uses" not in job for job in jobs.values())
    ci_ids = list(ci["jobs"])
    assert list(jobs)[: len(ci_ids)] == ci_ids
    for job_id in ci_ids:  # the same jobs, the same commands: only the caches are left out
        assert runs(jobs[job_id]) == runs(ci["jobs"][job_id]), job_id
    deploys = list(jobs)[len(ci_ids) :]
    assert deploys == ["deploy-staging", "deploy-production"]
    gates = [j for j in ci_ids if j != "code-scanning"]
    for job_id in deploys:
        job = jobs[job_id]
        assert set(gates) <= needs_closure(jobs, job_id), job_id
        # An ``if:`` without a status function gets GitHub's implicit success(): a failed
        # (or skipped) ci job, or a failed earlier environment, skips the deploy.
        assert not any(f in job["if"] for f in STATUS_FUNCTIONS), job["if"]
        checkout = steps_using(job, "actions/checkout")[0]
        assert "ref" not in checkout["with"]  # the run's own commit, the one ci tested
    assert jobs["deploy-production"]["needs"] == [*gates, "deploy-staging"]
    # a green ci deploys a release tag to both; any one failed ci job deploys nothing
    assert {job_results(jobs, set())[d] for d in deploys} == {"success"}
    for failed in gates:
        results = job_results(jobs, {failed})
        assert results[failed] == "failure"
        assert {results[d] for d in deploys} == {"skipped"}, (failed, results)


def test_cd_restores_no_cache_in_any_job(multi_repo: Path) -> None:
    """zizmor's cache-poisoning audit at default persona would flag a cache in cd; this
    names the guarantee: nothing a pull request's run wrote reaches a release run."""
    configure(multi_repo, {"github": FAN_OUT})
    assert init_github(multi_repo) == 0
    ci = load(multi_repo / WORKFLOW_DIR / CI_FILE)["jobs"]
    cd = load(multi_repo / WORKFLOW_DIR / CD_FILE)["jobs"]
    assert steps_using(ci["lint"], "actions/cache") and steps_using(ci["test"], "actions/cache/restore")
    for job_id, job in cd.items():
        for step in job["steps"]:
            assert not str(step.get("uses", "")).startswith("actions/cache"), (job_id, step)
        for setup in steps_using(job, "actions/setup-go"):
            assert setup["with"]["cache"] is False


def test_cd_cannot_deploy_production_from_a_branch_when_only_release_tags_may(multi_repo: Path) -> None:
    configure(multi_repo, CD_CONFIG)
    assert init_github(multi_repo) == 0
    cd = load(multi_repo / WORKFLOW_DIR / CD_FILE)
    staging, production = cd["jobs"]["deploy-staging"], cd["jobs"]["deploy-production"]
    for branch in ("main", "release/1.2", "feature"):
        assert not would_run(production, f"refs/heads/{branch}"), branch
    assert would_run(production, "refs/tags/v1.2.3")
    # staging keeps the stage default: the default branch and release tags
    assert would_run(staging, "refs/heads/main") and would_run(staging, "refs/tags/v1.2.3")
    assert not would_run(staging, "refs/heads/feature")
    assert not would_run(staging, "refs/pull/7/merge", event="pull_request")
    # only pushes of deployable refs start cd at all
    assert cd["on"]["push"] == {"branches": ["main"], "tags": ["v[0-9]**", "[0-9]**"]}


def test_cd_environments_secrets_permissions_and_oidc(multi_repo: Path) -> None:
    configure(multi_repo, CD_CONFIG)
    assert init_github(multi_repo) == 0
    cd = load(multi_repo / WORKFLOW_DIR / CD_FILE)
    assert cd["concurrency"]["cancel-in-progress"] is False
    assert cd["permissions"] == {}
    jobs = cd["jobs"]
    staging, production = jobs["deploy-staging"], jobs["deploy-production"]
    assert staging["environment"] == {"name": "staging", "url": "https://staging.example.com"}
    assert production["environment"] == {"name": "production", "url": "https://example.com"}
    for job in (staging, production):
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        assert "env" not in job
        # release jobs restore no cache: nothing a pull request's run wrote reaches a release
        assert not steps_using(job, "actions/cache")
        assert steps_using(job, "actions/setup-go")[0]["with"]["cache"] is False
        assert "cache" not in steps_using(job, "actions/setup-python")[0]["with"]
        (aws,) = steps_using(job, "aws-actions/configure-aws-credentials")
        assert aws["with"] == {
            "role-to-assume": "arn:aws:iam::123456789012:role/gopipe",
            "aws-region": "eu-west-1",
        }
        assert job["runs-on"] == "ubuntu-24.04"
    run = next(s for s in production["steps"] if s.get("name") == "Run the cd pipeline")
    assert run["run"] == "nox -s cd -- --env production"
    assert run["env"] == {
        "EXTRA_TOKEN": "${{ secrets.EXTRA_TOKEN }}",
        "PROD_KUBECONFIG": "${{ secrets.PROD_KUBECONFIG }}",
        "SLACK_WEBHOOK_URL": "${{ secrets.SLACK_WEBHOOK_URL }}",
    }
    staging_run = next(s for s in staging["steps"] if s.get("name") == "Run the cd pipeline")
    assert "PROD_KUBECONFIG" not in staging_run["env"]  # an environment's secrets stay in its job
    for job in (staging, production):  # and only on the step that runs the stages
        for step in job["steps"]:
            if step.get("name") != "Run the cd pipeline":
                assert "secrets." not in str(step), step
    # cd's ci jobs get their secrets per step, as in ci; only code scanning writes events
    assert jobs["merge"]["steps"][-2]["env"] == {
        "EXTRA_TOKEN": "${{ secrets.EXTRA_TOKEN }}",
        "SLACK_WEBHOOK_URL": "${{ secrets.SLACK_WEBHOOK_URL }}",
    }
    writers = [j for j, job in jobs.items() if "security-events" in job["permissions"]]
    assert writers == ["code-scanning"]
    assert jobs["code-scanning"]["permissions"] == {
        "actions": "read",
        "contents": "read",
        "security-events": "write",
    }
    text = (multi_repo / WORKFLOW_DIR / CD_FILE).read_text()
    assert text.count("id-token: write") == 2


def test_the_deploy_options_accept_the_tables_the_workflow_reads(multi_repo: Path) -> None:
    configure(multi_repo, CD_CONFIG)
    table = {k: v for k, v in load_config(multi_repo).raw["deploy"].items() if k != "providers"}
    settings = parse_options(
        deploy_options.DeploySettings, table, file="pyproject.toml", key="tool.gopipe.deploy", base=multi_repo
    )
    assert settings.environments["production"].url == "https://example.com"
    assert settings.environments["production"].allowed_refs == ("release-tags",)


def test_no_id_token_without_oidc(hello_repo: Path) -> None:
    assert init_github(hello_repo) == 0
    text = (hello_repo / WORKFLOW_DIR / CD_FILE).read_text()
    assert "id-token" not in text and "configure-aws-credentials" not in text
    assert list(load(hello_repo / WORKFLOW_DIR / CD_FILE)["jobs"]) == ["ci", "code-scanning", "cd"]


def test_without_deploy_providers_cd_is_not_ref_gated_beyond_its_triggers(multi_repo: Path) -> None:
    assert init_github(multi_repo) == 0
    cd = load(multi_repo / WORKFLOW_DIR / CD_FILE)
    assert cd["jobs"]["cd"]["needs"] == ["ci"] and "if" not in cd["jobs"]["cd"]
    assert "environment" not in cd["jobs"]["cd"]
    assert cd["on"]["push"] == {"branches": ["main"], "tags": ["v[0-9]**", "[0-9]**"]}


def test_ref_globs_become_triggers_and_conditions(multi_repo: Path) -> None:
    configure(
        multi_repo,
        {
            "deploy": {
                "providers": ["helm"],
                "allowed_refs": ["branch:release/*", "tag:deploy-[0-9]*", "pull-request"],
            }
        },
    )
    assert init_github(multi_repo) == 0
    cd = load(multi_repo / WORKFLOW_DIR / CD_FILE)
    assert cd["on"]["push"] == {"branches": ["release/**"], "tags": ["deploy-**"]}
    job = cd["jobs"]["cd"]
    assert would_run(job, "refs/heads/release/1.2") and would_run(job, "refs/tags/deploy-7")
    assert not would_run(job, "refs/heads/main") and not would_run(job, "refs/tags/v1.0.0")


def test_default_branch_and_pin_override(multi_repo: Path) -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    configure(
        multi_repo,
        {
            "github": {
                "default_branch": "trunk",
                "actions": {"actions/checkout": {"sha": sha, "version": "v9.9.9"}},
            }
        },
    )
    assert init_github(multi_repo) == 0
    text = (multi_repo / WORKFLOW_DIR / CI_FILE).read_text()
    assert f"uses: actions/checkout@{sha} # v9.9.9" in text
    cd = load(multi_repo / WORKFLOW_DIR / CD_FILE)
    assert cd["on"]["push"]["branches"] == ["trunk"]
    assert cd["env"] == {"GOPIPE_DEFAULT_BRANCH": "trunk"}  # the deploy stage's check agrees


# -- allowed_refs in the job condition is never narrower than the deploy stage's check --------
BRANCHES = ("main", "develop", "release/1.2", "release/x/y", "feature+x", "hotfix-1", "Release/9")
TAGS = ("v1.2.3", "1.2.3", "v1.2.3-rc1", "v1.2.3/x", "nightly", "deploy/prod-2026", "deploy-7", "it's")
PATTERNS = (
    ["default-branch"],
    ["release-tags"],
    ["default-branch", "release-tags"],
    ["branch:release/*"],
    ["branch:release/?.*"],
    ["branch:feature+*"],
    ["branch:hotfix-[0-9]"],
    ["branch:[!m]*"],
    ["tag:deploy/*"],
    ["tag:v[0-9]*"],
    ["tag:it's"],
    ["pull-request"],
    [],
)


def test_the_grammar_is_the_deploy_stages() -> None:
    assert github_refs.KEYWORDS == deploy_refs.KEYWORDS
    assert github_refs.PREFIXES == deploy_refs._PREFIXES
    assert github_refs.DEFAULT_ALLOWED_REFS == deploy_options.DEFAULT_ALLOWED_REFS


@pytest.mark.parametrize("patterns", PATTERNS, ids=lambda p: ",".join(p) or "none")
def test_job_condition_and_triggers_allow_every_ref_the_deploy_stage_allows(patterns: list[str]) -> None:
    condition = github_refs.ref_condition(patterns, "main")
    branches, tags = github_refs.push_filters(patterns, "main")
    refs = [(f"refs/heads/{b}", dataclasses.replace(UNKNOWN, branch=b)) for b in BRANCHES]
    refs += [(f"refs/tags/{t}", dataclasses.replace(UNKNOWN, tag=t)) for t in TAGS]
    allowed = 0
    for ref, git in refs:
        git = dataclasses.replace(git, default_branch="main")
        if not deploy_refs.check_ref(git, {"GITHUB_EVENT_NAME": "push"}, patterns).allowed:
            continue
        allowed += 1
        assert evaluate(condition, {"github.ref": ref, "github.event_name": "push"}), (ref, condition)
        name = ref.split("/", 2)[2]
        filters = branches if ref.startswith("refs/heads/") else tags
        assert any(filter_matches(f, name) for f in filters), (ref, filters)
    if patterns and patterns != ["pull-request"]:
        assert allowed, "the case allows nothing: it tests nothing"
    pr_allowed = deploy_refs.check_ref(UNKNOWN, {"GITHUB_EVENT_NAME": "pull_request"}, patterns).allowed
    pr_context = {"github.ref": "refs/pull/1/merge", "github.event_name": "pull_request"}
    assert evaluate(condition, pr_context) == pr_allowed


def test_job_condition_is_not_needlessly_wide() -> None:
    condition = github_refs.ref_condition(["branch:release/*", "release-tags"], "main")
    context = {"github.event_name": "push"}
    assert not evaluate(condition, {**context, "github.ref": "refs/heads/main"})
    assert not evaluate(condition, {**context, "github.ref": "refs/heads/feature/release/x"})
    assert github_refs.ref_condition([], "main") == "false"


# -- subdirectory modules ------------------------------------------------------------------------
def test_subdirectory_module_gets_workflows_at_the_git_root(
    mono_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = mono_repo / "services" / "api"
    configure(module, {"github": FAN_OUT})
    assert init_github(module) == 0
    assert "workflows go to the git repository's root" in capsys.readouterr().out
    assert not (module / ".github").exists()
    ci = load(mono_repo / WORKFLOW_DIR / CI_FILE)
    cd = load(mono_repo / WORKFLOW_DIR / CD_FILE)
    for workflow in (ci, cd):
        assert workflow["defaults"] == {"run": {"working-directory": "services/api"}}
    assert (
        "from [tool.gopipe] in services/api/pyproject.toml"
        in (mono_repo / WORKFLOW_DIR / CI_FILE).read_text()
    )
    jobs = ci["jobs"]
    setup_go = steps_using(jobs["lint"], "actions/setup-go")[0]["with"]
    assert setup_go["go-version-file"] == "services/api/go.mod"
    caches = {s["with"]["path"]: s["with"]["key"] for s in steps_using(jobs["lint"], "actions/cache")}
    assert "hashFiles('services/api/**/go.sum')" in caches["~/go/pkg/mod"]
    assert "hashFiles('services/api/go.mod', 'services/api/**/go.sum')" in caches["~/.cache/gopipe"]
    assert (
        steps_using(jobs["lint"], "actions/upload-artifact")[0]["with"]["path"] == "services/api/dist/gopipe"
    )
    assert steps_using(jobs["build"], "actions/upload-artifact")[0]["with"]["path"] == "services/api/dist"
    merge = jobs["merge"]
    assert steps_using(merge, "actions/download-artifact")[0]["with"]["path"] == "services/api/parts"
    assert "gopipe merge parts" in runs(merge)  # run steps start in the module
    timings = steps_using(jobs["test"], "actions/cache/restore")[0]["with"]["path"]
    assert timings == "services/api/dist/gopipe/test-timings.json"
    scan = jobs["code-scanning"]
    upload = steps_using(scan, "github/codeql-action/upload-sarif")[0]
    assert upload["with"]["sarif_file"] == "services/api/dist/gopipe/lint.sarif"
    assert upload["if"] == "hashFiles('services/api/dist/gopipe/lint.sarif') != ''"
    assert steps_using(scan, "actions/download-artifact")[0]["with"]["path"] == "services/api/dist/gopipe"
    deploy = cd["jobs"]["cd"]
    assert steps_using(deploy, "actions/setup-go")[0]["with"]["go-version-file"] == "services/api/go.mod"
    assert steps_using(deploy, "actions/upload-artifact")[0]["with"]["path"] == "services/api/dist/gopipe"
    # the staleness check, run from the module as CI runs it, finds the files at the root
    capsys.readouterr()
    assert init_github(module, "--check") == 0
    assert "gopipe-cd.yml is up to date" in capsys.readouterr().out


# -- options validation --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"github": {"test_shards": 0}}, "test_shards: expected 1..256"),
        ({"github": {"test_shard": 2}}, "did you mean 'test_shards'"),
        ({"github": {"build_matrix": "yes"}}, "expected boolean"),
        ({"github": {"aws_role": "arn:aws:iam::1:role/x"}}, "aws_role and aws_region go together"),
        ({"github": {"secrets": ["BAD-NAME"]}}, "invalid secret name"),
        ({"github": {"python_version": "2.7"}}, "invalid Python version"),
        (
            {"github": {"actions": {"actions/checkout": {"sha": "v4", "version": "v4"}}}},
            "not a full commit SHA",
        ),
        ({"github": {"plugins": ["gopipe-teams"]}}, "now listed in [tool.gopipe] requires"),
        ({"github": {"gopipe_requirement": "gopipe"}}, "'gopipe' is not an exact version"),
        ({"github": {"gopipe_requirement": "gopipe>=0.1"}}, "is not an exact version"),
        ({"github": {"gopipe_requirement": "nox==1"}}, "does not install gopipe"),
    ],
)
def test_bad_github_options_are_config_errors(
    multi_repo: Path, table: dict[str, Any], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(multi_repo, table)
    with pytest.raises(ConfigError) as exc:
        load_github_options(load_config(multi_repo))
    assert message in str(exc.value) and "tool.gopipe.github" in str(exc.value)
    assert init_github(multi_repo) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("deploy_table", "key", "message"),
    [
        ({"allowed_refs": ["main"]}, "deploy.allowed_refs", "'main' is not an allowed-ref entry"),
        ({"allowed_refs": "release-tags"}, "deploy.allowed_refs", "expected an array"),
        (
            {"environments": {"prod": {"allowed_refs": ["tag:"]}}},
            "deploy.environments.prod.allowed_refs",
            "not an allowed-ref entry",
        ),
        (
            {"environments": {"prod": {"url": "example.com"}}},
            "deploy.environments.prod.url",
            "not an http(s) URL",
        ),
        ({"environments": {"a.b": {}, "a-b": {}}}, "deploy.environments.a-b", "same GitHub job id"),
    ],
)
def test_bad_deploy_tables_are_config_errors(
    multi_repo: Path, deploy_table: dict[str, Any], key: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(multi_repo, {"deploy": deploy_table})
    assert init_github(multi_repo) == 2
    err = capsys.readouterr().err
    assert f"tool.gopipe.{key}" in err and message in err, err


# -- the YAML writer -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "on",
        "yes",
        "No",
        "null",
        "~",
        "1.0",
        "007",
        "1e3",
        "0x1F",
        "12:30",
        "",
        " lead",
        "trail ",
        "a: b",
        "a #b",
        "#c",
        "-x",
        "*alias",
        "&anchor",
        "!tag",
        "|",
        ">",
        "'q'",
        '"q"',
        "@at",
        "`tick",
        "%pct",
        "{x}",
        "[y]",
        "ünï",
        "${{ matrix.shard }}",
        "v[0-9]*",
        "a,b",
        "line\nbreak",
    ],
)
def test_scalars_round_trip(text: str) -> None:
    doc = dump({"k": text, "seq": [text, "z"]})
    assert yaml.safe_load(doc) == {"k": text, "seq": [text, "z"]}
    assert scalar(text) == scalar(text)


def test_dump_shapes() -> None:
    doc = dump(
        {
            "a": None,
            "b": {},
            "c": [],
            "d": Block("x\ny\n"),
            "e": [{"f": 1, "g": [True]}],
            "h": Commented("u@sha", "v1"),
        },
        header="hello\nworld",
    )
    assert doc.startswith("# hello\n# world\n")
    assert "h: u@sha # v1\n" in doc
    assert yaml.safe_load(doc) == {
        "a": None,
        "b": {},
        "c": [],
        "d": "x\ny\n",
        "e": [{"f": 1, "g": [True]}],
        "h": "u@sha",
    }
