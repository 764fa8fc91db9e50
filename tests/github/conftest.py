"""Fixtures for the GitHub workflow, shard/merge and plugin scaffold tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gopipe.gotools import TOOLS, GoToolchain
from gopipe.testing import make_git_repo

MULTI = Path(__file__).resolve().parents[1] / "fixtures" / "gomod" / "multi"


@pytest.fixture(scope="session")
def actionlint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """actionlint built from its Go module into gopipe's tool cache (pinned in TOOLS)."""
    if shutil.which("go") is None:
        pytest.fail("Go is required to build actionlint")
    return GoToolchain(tmp_path_factory.mktemp("al"), dict(os.environ)).tool(TOOLS["actionlint"])


@pytest.fixture(scope="session")
def zizmor() -> Path:
    """zizmor, the GitHub Actions security linter (scripts/deps/pip-github.txt installs it)."""
    exe = shutil.which("zizmor")
    if exe is None:
        pytest.fail("zizmor is not installed: pip install -r scripts/deps/pip-github.txt")
    return Path(exe)


@pytest.fixture(scope="session")
def check_jsonschema() -> list[str]:
    """The check-jsonschema command (scripts/deps/pip-github.txt installs it)."""
    exe = shutil.which("check-jsonschema")
    if exe is None:
        pytest.fail("check-jsonschema is not installed: pip install -r scripts/deps/pip-github.txt")
    return [exe]


# Auditor-persona findings the generated workflows keep on purpose. secrets-outside-env
# wants every job that reads a secret inside a GitHub environment; ci's jobs (notify's
# webhook, a registry token) run on pull requests, where a protected environment would
# hold every pull request for approval. Deployment secrets do sit in their environments.
AUDITOR_ONLY = frozenset({"secrets-outside-env"})
ZIZMOR_CLEAN = re.compile(r"^No findings to report\. Good job!(?: \((?P<suppressed>\d+) suppressed\))?$")


def validate_workflows(
    files: list[Path], actionlint: Path, check_jsonschema: list[str], zizmor: Path
) -> None:
    """All three validators with zero findings, or the test fails showing their output.

    zizmor runs offline (no GitHub token, no network) at its default persona: zero findings
    and zero ignored (no ``zizmor: ignore`` comment, no config). What it suppresses at that
    persona is checked too: only the auditor findings in :data:`AUDITOR_ONLY`.
    """
    assert files, "no workflow files to validate"
    lint = subprocess.run(
        [str(actionlint), "-no-color", "-oneline", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0 and not lint.stdout, f"actionlint findings:\n{lint.stdout}{lint.stderr}"
    schema = subprocess.run(
        [*check_jsonschema, "--builtin-schema", "vendor.github-workflows", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert schema.returncode == 0, f"schema findings:\n{schema.stdout}{schema.stderr}"
    base = [str(zizmor), "--offline", "--no-progress", "--color=never", "--no-config"]
    audit = subprocess.run([*base, *map(str, files)], capture_output=True, text=True, check=False)
    assert audit.returncode == 0, f"zizmor findings:\n{audit.stdout}{audit.stderr}"
    summary = audit.stdout.strip().splitlines()[-1]
    clean = ZIZMOR_CLEAN.match(summary)
    assert clean, f"zizmor: findings or ignored ones:\n{audit.stdout}"
    for path in files:
        assert "zizmor:" not in path.read_text(), f"{path} carries a zizmor comment"
    auditor = subprocess.run(
        [*base, "--persona=auditor", "--format=json", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(auditor.stdout)
    kinds = {f["ident"] for f in findings}
    assert kinds <= AUDITOR_ONLY, f"zizmor --persona=auditor: {sorted(kinds - AUDITOR_ONLY)}"
    assert len(findings) == int(clean["suppressed"] or 0), (summary, len(findings))


@pytest.fixture
def multi_repo(tmp_path: Path) -> Path:
    """tests/fixtures/gomod/multi in a fresh git repository."""
    repo = tmp_path / "multi"
    shutil.copytree(MULTI, repo, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    return make_git_repo(repo)


def gopipe(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """gopipe as a separate process, as CI runs it."""
    return subprocess.run(
        [sys.executable, "-m", "gopipe.cli", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
