"""The govulncheck gate on real govulncheck runs: only called code fails, waivers expire.

One module calls ``language.Parse`` (vulnerable: GO-2099-0001, alias CVE-2099-0001) and
imports, without calling, ``language.ParseAcceptLanguage`` (GO-2099-0002). The clock is set
with ``GOPIPE_NOW``; the same config is judged on the waiver's last day and the day after.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.plugins.consumers import github_upload_problems, sarif_schema_errors
from tests.plugins.lint.vulndb import Vuln, write_vulndb

from gopipe.testing import RunResult, make_git_repo

pytestmark = pytest.mark.slow  # installs and runs govulncheck with Go

CALLED = Vuln(
    "GO-2099-0001",
    "Made-up flaw in language.Parse",
    "golang.org/x/text",
    "golang.org/x/text/language",
    "Parse",
    aliases=("CVE-2099-0001",),
)
NOT_CALLED = Vuln(
    "GO-2099-0002",
    "Made-up flaw in language.ParseAcceptLanguage",
    "golang.org/x/text",
    "golang.org/x/text/language",
    "ParseAcceptLanguage",
)
WAIVERS = """waivers = [
  { id = "CVE-2099-0001", until = "2027-03-31", reason = "input is a constant; upgrade in #42" },
  { id = "GO-2099-0099", until = "2027-06-30", reason = "left over from the old parser" },
]
"""


@pytest.fixture
def vuln_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "vuln"
    (repo / "cmd" / "vuln").mkdir(parents=True)
    (repo / "go.mod").write_text("module example.com/vuln\n\ngo 1.24\n")
    (repo / "cmd" / "vuln" / "main.go").write_text(
        'package main\n\nimport (\n\t"fmt"\n\n\t"golang.org/x/text/language"\n)\n\n'
        'func main() {\n\ttag, err := language.Parse("zh-CN")\n\tfmt.Println(tag, err)\n}\n'
    )
    subprocess.run(["go", "get", "golang.org/x/text@v0.31.0"], cwd=repo, check=True, capture_output=True)
    db = write_vulndb(tmp_path / "vulndb", [CALLED, NOT_CALLED])
    (repo / "pyproject.toml").write_text(
        '[tool.gopipe]\ntargets = ["linux/amd64"]\n[tool.gopipe.lint]\nproviders = ["govulncheck"]\n'
        f'[tool.gopipe.lint.govulncheck]\ndb = "file://{db}"\n{WAIVERS}'
    )
    return make_git_repo(repo)


def _results(repo: Path) -> dict[str, dict[str, object]]:
    sarif = json.loads((repo / "dist/gopipe/lint.sarif").read_text())
    assert sarif_schema_errors(sarif) == [] and github_upload_problems(sarif, repo) == []
    (run,) = sarif["runs"]
    return {str(r["ruleId"]): r for r in run["results"]}


def test_waiver_holds_through_its_last_day_then_fails_the_run(
    vuln_repo: Path, gopipe_run: Callable[..., RunResult], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GOPIPE_NOW", "2027-03-31T23:59:59Z")
    result = gopipe_run(vuln_repo, "lint")
    assert result.exit_code == 0, result.report
    lint = result.stage("lint")
    assert lint["summary"] == "govulncheck: 1 called (1 waived), 1 not called, 1 unused waiver"

    results = _results(vuln_repo)
    called = results["GO-2099-0001"]
    assert called["level"] == "error"  # still an error, but accepted: code scanning shows it dismissed
    assert called["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "waived until 2027-03-31: input is a constant; upgrade in #42",
        }
    ]
    not_called = results["GO-2099-0002"]
    assert not_called["level"] == "note" and "imported but not called" in not_called["message"]["text"]
    assert "suppressions" not in not_called
    unused = results["unused-waiver"]
    assert unused["level"] == "warning" and "GO-2099-0099" in unused["message"]["text"]
    region = unused["locations"][0]["physicalLocation"]
    assert region["artifactLocation"]["uri"] == "pyproject.toml"
    lines = (vuln_repo / "pyproject.toml").read_text().splitlines()
    assert "GO-2099-0099" in lines[region["region"]["startLine"] - 1]

    text = summary.read_text()
    waived_row = next(line for line in text.splitlines() if "GO-2099-0001" in line)
    assert waived_row.startswith("| waived |") and "until 2027-03-31" in waived_row
    assert any(line.startswith("| warning |") and "GO-2099-0099" in line for line in text.splitlines())

    # The next day: the same config, same sources; the cached green lint must not be reused.
    monkeypatch.setenv("GOPIPE_NOW", "2027-04-01")
    result = gopipe_run(vuln_repo, "lint")
    assert result.exit_code == 1, result.report
    lint = result.stage("lint")
    assert not lint.get("cached")
    error = lint["error"]
    expired = "govulncheck: waiver CVE-2099-0001 expired (until 2027-03-31, today 2027-04-01)"
    assert error.startswith(expired), error
    assert "GO-2099-0001 is still reported" in error and "renew the waiver" in error
    assert "suppressions" not in _results(vuln_repo)["GO-2099-0001"]


def test_only_called_code_fails(vuln_repo: Path, gopipe_run: Callable[..., RunResult]) -> None:
    config = vuln_repo / "pyproject.toml"
    config.write_text(config.read_text().replace(WAIVERS, ""))
    result = gopipe_run(vuln_repo, "lint")
    assert result.exit_code == 1, result.report
    error = result.stage("lint")["error"]
    assert error.startswith("govulncheck: 1 govulncheck finding, first at cmd/vuln/main.go:10"), error
    assert "GO-2099-0002" not in error and "ParseAcceptLanguage" not in error
