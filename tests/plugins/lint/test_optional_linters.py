"""golangci-lint v2 and govulncheck, both pinned and installed on first use, on real code.

govulncheck cannot reach the public vulnerability database here, so the test serves it a
local database (`-db file://…`) in the documented v1 layout (index/db.json,
index/modules.json, ID/<id>.json with OSV entries) that declares a made-up vulnerability
in a real module version the fixture calls.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.plugins.consumers import github_upload_problems, sarif_schema_errors

from gopipe.gotools import TOOLS
from gopipe.testing import RunResult, make_git_repo

pytestmark = pytest.mark.slow  # installs and runs golangci-lint and govulncheck with Go

OSV_ID = "GO-2099-0001"
MODIFIED = "2026-01-01T00:00:00Z"


def test_golangci_lint_reports_errcheck(hello_repo: Path, gopipe_run: Callable[..., RunResult]) -> None:
    (hello_repo / "internal/greet/cleanup.go").write_text(
        'package greet\n\nimport "os"\n\n// Cleanup removes the scratch file.\n'
        'func Cleanup() {\n\tos.Remove("scratch")\n}\n'
    )
    config = hello_repo / "pyproject.toml"
    config.write_text(
        config.read_text().replace(
            'providers = ["gofmt", "govet", "staticcheck"]', 'providers = ["golangci-lint"]'
        )
    )
    result = gopipe_run(hello_repo, "lint")
    assert result.exit_code == 1, result.report
    error = result.stage("lint")["error"]
    assert "golangci-lint finding" in error and "internal/greet/cleanup.go:7:" in error
    sarif = json.loads((hello_repo / "dist/gopipe/lint.sarif").read_text())
    rules = {r["ruleId"] for run in sarif["runs"] for r in run["results"]}
    assert "errcheck" in rules
    assert sarif_schema_errors(sarif) == [] and github_upload_problems(sarif, hello_repo) == []
    (run,) = sarif["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("golangci-lint", TOOLS["golangci-lint"].version)
    errcheck = next(r for r in driver["rules"] if r["id"] == "errcheck")
    assert "unchecked errors" in errcheck["shortDescription"]["text"]  # from `help linters --json`
    assert errcheck["helpUri"].startswith("https://")


def _vulndb(root: Path) -> Path:
    (root / "index").mkdir(parents=True)
    (root / "ID").mkdir()
    (root / "index" / "db.json").write_text(json.dumps({"modified": MODIFIED}))
    (root / "index" / "modules.json").write_text(
        json.dumps(
            [
                {
                    "path": "golang.org/x/text",
                    "vulns": [{"id": OSV_ID, "modified": MODIFIED, "fixed": "0.99.0"}],
                }
            ]
        )
    )
    (root / "index" / "vulns.json").write_text(json.dumps([{"id": OSV_ID, "modified": MODIFIED}]))
    (root / "ID" / f"{OSV_ID}.json").write_text(
        json.dumps(
            {
                "schema_version": "1.3.1",
                "id": OSV_ID,
                "modified": MODIFIED,
                "published": MODIFIED,
                "summary": "Made-up test vulnerability in language.Parse",
                "details": "Test fixture.",
                "affected": [
                    {
                        "package": {"name": "golang.org/x/text", "ecosystem": "Go"},
                        "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.99.0"}]}],
                        "ecosystem_specific": {
                            "imports": [{"path": "golang.org/x/text/language", "symbols": ["Parse"]}]
                        },
                    }
                ],
            }
        )
    )
    return root


def test_govulncheck_finds_a_reachable_vulnerability(
    tmp_path: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    repo = tmp_path / "vuln"
    (repo / "cmd" / "vuln").mkdir(parents=True)
    (repo / "go.mod").write_text("module example.com/vuln\n\ngo 1.24\n")
    (repo / "cmd" / "vuln" / "main.go").write_text(
        'package main\n\nimport (\n\t"fmt"\n\n\t"golang.org/x/text/language"\n)\n\n'
        'func main() {\n\ttag, err := language.Parse("zh-CN")\n\tfmt.Println(tag, err)\n}\n'
    )
    subprocess.run(["go", "get", "golang.org/x/text@v0.31.0"], cwd=repo, check=True, capture_output=True)
    db = _vulndb(tmp_path / "vulndb")
    (repo / "pyproject.toml").write_text(
        '[tool.gopipe]\ntargets = ["linux/amd64"]\n[tool.gopipe.lint]\nproviders = ["govulncheck"]\n'
        f'[tool.gopipe.lint.govulncheck]\ndb = "file://{db}"\n'
    )
    make_git_repo(repo)
    result = gopipe_run(repo, "lint")
    assert result.exit_code == 1, result.report
    error = result.stage("lint")["error"]
    assert "govulncheck finding" in error and "cmd/vuln/main.go:10" in error
    assert "Made-up test vulnerability" in error and "(fixed in v0.99.0)" in error
    sarif = json.loads((repo / "dist/gopipe/lint.sarif").read_text())
    assert sarif_schema_errors(sarif) == [] and github_upload_problems(sarif, repo) == []
    (rule,) = sarif["runs"][0]["tool"]["driver"]["rules"]
    assert rule == {
        "id": OSV_ID,
        "shortDescription": {"text": "Made-up test vulnerability in language.Parse"},
        "helpUri": f"https://pkg.go.dev/vuln/{OSV_ID}",
        "properties": {"tags": ["security"]},
    }
