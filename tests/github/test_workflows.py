"""`gopipe init --github`: the generated workflows are valid, pinned, least-privilege,
idempotent, and `--check` catches drift."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from tests.github.conftest import validate_workflows

from gopipe.cli import main
from gopipe.config import load_config
from gopipe.errors import ConfigError
from gopipe.github import CD_FILE, CI_FILE, WORKFLOW_DIR, load_github_options, render_workflows
from gopipe.github.actions import KNOWN_PINS
from gopipe.github.yaml import Block, Commented, dump, scalar
from gopipe.testing import toml_dumps

ROOT = Path(__file__).resolve().parents[2]
USES = re.compile(r"^\s*(?:- )?uses: (?P<action>[\w./-]+)@(?P<ref>\S+)(?: # (?P<comment>\S+))?$")

FAN_OUT = {"test_shards": 3, "build_matrix": True}
CD_CONFIG: dict[str, Any] = {
    "github": {
        "test_shards": 4,
        "build_matrix": True,
        "plugins": ["gopipe-teams>=1.0"],
        "aws_role": "arn:aws:iam::123456789012:role/gopipe",
        "aws_region": "eu-west-1",
        "secrets": ["EXTRA_TOKEN"],
        "runs_on": "ubuntu-24.04",
    },
    "notify": {"slack": {"webhook": {"env": "SLACK_WEBHOOK_URL"}}},
    "deploy": {
        "environments": {
            "staging": {"namespace": "staging"},
            "production": {"namespace": "prod", "kubeconfig": {"env": "PROD_KUBECONFIG"}},
        }
    },
}


def configure(repo: Path, extra: dict[str, Any]) -> None:
    """Append tables under [tool.gopipe] to the repository's pyproject.toml."""
    text = toml_dumps({"tool": {"gopipe": extra}})
    # toml_dumps writes [tool] / [tool.gopipe] headers; keep only the sub-tables.
    body = text.split("[tool.gopipe]\n", 1)[1]
    with (repo / "pyproject.toml").open("a") as fh:
        fh.write("\n" + body)


def init_github(repo: Path, *flags: str) -> int:
    return main(["init", "--github", *flags, "-C", str(repo)])


def workflows(repo: Path) -> list[Path]:
    return [repo / WORKFLOW_DIR / CI_FILE, repo / WORKFLOW_DIR / CD_FILE]


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


# -- validity ------------------------------------------------------------------------------
@pytest.mark.slow
def test_hello_workflows_pass_actionlint_and_schema(
    hello_repo: Path, actionlint: Path, check_jsonschema: list[str]
) -> None:
    assert init_github(hello_repo) == 0
    assert (hello_repo / "noxfile.py").is_file()  # nox -s ci needs it
    validate_workflows(workflows(hello_repo), actionlint, check_jsonschema)


@pytest.mark.slow
@pytest.mark.parametrize(
    "variant",
    [
        {},
        FAN_OUT,
        {"test_shards": 5},
        {"build_matrix": True},
        "cd",
    ],
    ids=["single-job", "shards+matrix", "shards-only", "matrix-only", "environments+oidc"],
)
def test_multi_package_workflows_pass_actionlint_and_schema(
    multi_repo: Path, variant: dict[str, Any] | str, actionlint: Path, check_jsonschema: list[str]
) -> None:
    configure(multi_repo, CD_CONFIG if variant == "cd" else {"github": variant} if variant else {})
    assert init_github(multi_repo) == 0
    validate_workflows(workflows(multi_repo), actionlint, check_jsonschema)


@pytest.mark.slow
def test_project_workflows_pass_actionlint_and_schema(actionlint: Path, check_jsonschema: list[str]) -> None:
    files = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
    assert files, "the project's own CI lives in .github/workflows/"
    validate_workflows(files, actionlint, check_jsonschema)


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


# -- content -----------------------------------------------------------------------------------
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


def test_single_job_ci(hello_repo: Path) -> None:
    assert init_github(hello_repo) == 0
    ci = load(hello_repo / WORKFLOW_DIR / CI_FILE)
    assert set(ci["on"]) == {"pull_request", "push"}
    assert ci["on"]["push"] == {"branches": ["main"]}
    assert ci["permissions"] == {"contents": "read"}
    assert ci["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    (job,) = ci["jobs"].values()
    steps = job["steps"]
    checkout = steps[0]
    assert checkout["with"] == {"fetch-depth": 0, "persist-credentials": False}
    assert steps[1]["with"]["go-version-file"] == "go.mod"
    caches = {s["with"]["path"]: s["with"]["key"] for s in steps if "actions/cache@" in s.get("uses", "")}
    assert set(caches) == {"~/go/pkg/mod", "~/.cache/go-build", "~/.cache/gopipe"}
    assert "hashFiles('**/go.sum')" in caches["~/go/pkg/mod"]
    assert "go.sum" in caches["~/.cache/gopipe"]
    runs = [s["run"] for s in steps if "run" in s]
    assert runs == ["python -m pip install --disable-pip-version-check gopipe", "nox -s ci"]
    assert "env" not in job  # no secrets referenced


def test_fan_out_ci_uses_matrices_and_a_merge_job(multi_repo: Path) -> None:
    configure(multi_repo, {"github": FAN_OUT, "notify": {"slack": {"webhook": {"env": "SLACK_WEBHOOK_URL"}}}})
    assert init_github(multi_repo) == 0
    jobs = load(multi_repo / WORKFLOW_DIR / CI_FILE)["jobs"]
    assert list(jobs) == ["lint", "test", "build", "merge"]
    assert jobs["test"]["strategy"] == {"fail-fast": False, "matrix": {"shard": [1, 2, 3]}}
    test_runs = [s.get("run") for s in jobs["test"]["steps"]]
    assert "nox -s test -- --shard ${{ matrix.shard }}/3 --no-notify" in test_runs
    targets = [i["target"] for i in jobs["build"]["strategy"]["matrix"]["include"]]
    assert targets == ["linux/amd64", "linux/arm64"]
    uploads = {
        j: next(s["with"] for s in job["steps"] if "upload-artifact" in s.get("uses", ""))
        for j, job in jobs.items()
    }
    assert uploads["test"]["name"] == "gopipe-part-test-${{ matrix.shard }}"
    assert uploads["test"]["path"] == "dist/gopipe" and uploads["build"]["path"] == "dist"
    merge = jobs["merge"]
    assert merge["needs"] == ["lint", "test", "build"] and merge["if"] == "${{ !cancelled() }}"
    download = next(s for s in merge["steps"] if "download-artifact" in s.get("uses", ""))
    assert download["with"] == {"pattern": "gopipe-part-*", "path": "parts"}
    assert "gopipe merge parts" in [s.get("run") for s in merge["steps"]]
    # notify secrets only where notify runs
    assert merge["env"] == {"SLACK_WEBHOOK_URL": "${{ secrets.SLACK_WEBHOOK_URL }}"}
    assert "env" not in jobs["test"]


def test_cd_environments_secrets_and_oidc(multi_repo: Path) -> None:
    configure(multi_repo, CD_CONFIG)
    assert init_github(multi_repo) == 0
    cd = load(multi_repo / WORKFLOW_DIR / CD_FILE)
    assert cd["on"] == {"push": {"branches": ["main"], "tags": ["v[0-9]*"]}}
    assert cd["concurrency"]["cancel-in-progress"] is False
    assert cd["permissions"] == {"contents": "read"}
    staging, production = cd["jobs"]["deploy-staging"], cd["jobs"]["deploy-production"]
    assert (staging["environment"], production["environment"]) == ("staging", "production")
    assert production["needs"] == ["deploy-staging"] and "needs" not in staging
    assert staging["permissions"] == {"contents": "read", "id-token": "write"}
    assert production["env"] == {
        "EXTRA_TOKEN": "${{ secrets.EXTRA_TOKEN }}",
        "PROD_KUBECONFIG": "${{ secrets.PROD_KUBECONFIG }}",
        "SLACK_WEBHOOK_URL": "${{ secrets.SLACK_WEBHOOK_URL }}",
    }
    assert "PROD_KUBECONFIG" not in staging["env"]  # an environment's secrets stay in its job
    aws = next(s for s in staging["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    assert aws["with"] == {
        "role-to-assume": "arn:aws:iam::123456789012:role/gopipe",
        "aws-region": "eu-west-1",
    }
    assert "nox -s cd -- --env production" in [s.get("run") for s in production["steps"]]
    assert staging["runs-on"] == "ubuntu-24.04"
    install = next(s["run"] for s in staging["steps"] if s.get("name") == "Install gopipe")
    assert install.endswith("gopipe 'gopipe-teams>=1.0'")


def test_no_id_token_without_oidc(hello_repo: Path) -> None:
    assert init_github(hello_repo) == 0
    text = (hello_repo / WORKFLOW_DIR / CD_FILE).read_text()
    assert "id-token" not in text and "configure-aws-credentials" not in text
    assert list(load(hello_repo / WORKFLOW_DIR / CD_FILE)["jobs"]) == ["cd"]


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
    assert load(multi_repo / WORKFLOW_DIR / CD_FILE)["on"]["push"]["branches"] == ["trunk"]


# -- options validation --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"test_shards": 0}, "test_shards: expected 1..256"),
        ({"test_shard": 2}, "did you mean 'test_shards'"),
        ({"build_matrix": "yes"}, "expected boolean"),
        ({"aws_role": "arn:aws:iam::1:role/x"}, "aws_role and aws_region go together"),
        ({"secrets": ["BAD-NAME"]}, "invalid secret name"),
        ({"python_version": "2.7"}, "invalid Python version"),
        ({"actions": {"actions/checkout": {"sha": "v4", "version": "v4"}}}, "not a full commit SHA"),
    ],
)
def test_bad_github_options_are_config_errors(
    multi_repo: Path, table: dict[str, Any], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(multi_repo, {"github": table})
    with pytest.raises(ConfigError) as exc:
        load_github_options(load_config(multi_repo))
    assert message in str(exc.value) and "tool.gopipe.github" in str(exc.value)
    assert init_github(multi_repo) == 2
    assert message in capsys.readouterr().err


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
