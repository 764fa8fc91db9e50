"""lint.sarif, junit.xml, test.json and coverage.xml from real runs, as their readers take them.

The Go module (tests/fixtures/gomod/reports) sits in ``services/reports`` of the git
repository, as in a monorepo: every file name in the reports must be relative to the
repository, not to the module. Its code has one finding per default linter (gofmt, go vet,
staticcheck), a failing test, a failing subtest, a skipped test with a reason and a test
that prints a secret. The readers: the official SARIF 2.1.0 schema and GitHub's upload rules,
junitparser and the hand-written Surefire-format XSD, pycobertura (tests/plugins/consumers.py).
"""

from __future__ import annotations

import json
import re
import secrets as random_tokens
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from junitparser import Attr, Failure, IntAttr, JUnitXml, Skipped, TestCase
from pycobertura import Cobertura
from tests.plugins.consumers import github_upload_problems, junit_schema_errors, sarif_schema_errors

from gopipe.gotools import TOOLS
from gopipe.testing import RunResult, make_git_repo

pytestmark = pytest.mark.slow  # runs gofmt, go vet, staticcheck and go test

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "gomod" / "reports"
SUBDIR = "services/reports"
TestCase.file = Attr("file")  # junitparser's documented way to read extra attributes
TestCase.line = IntAttr("line")


@pytest.fixture
def monorepo(tmp_path: Path) -> Path:
    """The fixture module in ``services/reports`` of a fresh git repository (the repo's root)."""
    repo = tmp_path / "mono"
    module = repo / SUBDIR
    shutil.copytree(FIXTURE, module)
    (repo / "README.md").write_text("a monorepo\n")
    (module / ".gitignore").write_text("/dist/\n")
    return make_git_repo(repo)


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def go_version(module: Path) -> str:
    done = subprocess.run(["go", "env", "GOVERSION"], cwd=module, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_lint_sarif_is_accepted_by_code_scanning(
    monorepo: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    module = monorepo / SUBDIR
    result = gopipe_run(module, "lint")
    assert result.exit_code == 1, result.report
    log = load(module / "dist/gopipe/lint.sarif")
    assert sarif_schema_errors(log) == []
    assert github_upload_problems(log, monorepo) == []  # every URI is a file of the repository

    runs = {r["tool"]["driver"]["name"]: r for r in log["runs"]}
    assert list(runs) == ["gofmt", "go vet", "staticcheck"]  # the selected linters, in order
    go = go_version(module)
    assert runs["gofmt"]["tool"]["driver"]["version"] == runs["go vet"]["tool"]["driver"]["version"] == go
    assert runs["staticcheck"]["tool"]["driver"]["version"] == TOOLS["staticcheck"].version

    def found(tool: str) -> set[tuple[str, str, int]]:
        return {
            (
                r["ruleId"],
                r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                r["locations"][0]["physicalLocation"]["region"]["startLine"],
            )
            for r in runs[tool]["results"]
        }

    assert found("gofmt") == {("gofmt", f"{SUBDIR}/calc/unformatted.go", 5)}
    assert found("go vet") == {("unreachable", f"{SUBDIR}/calc/calc.go", 23)}
    assert ("SA4006", f"{SUBDIR}/calc/calc.go", 30) in found("staticcheck")

    rules = {r["id"]: r for run in log["runs"] for r in run["tool"]["driver"]["rules"]}
    assert rules["SA4006"]["helpUri"] == "https://staticcheck.dev/docs/checks/#SA4006"
    assert rules["SA4006"]["shortDescription"]["text"] not in ("", "SA4006")  # the check's title
    assert rules["unreachable"] == {
        "id": "unreachable",
        "shortDescription": {"text": "check for unreachable code"},
        "helpUri": "https://pkg.go.dev/golang.org/x/tools/go/analysis/passes/unreachable",
    }
    base = runs["gofmt"]["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base == monorepo.resolve().as_uri() + "/"  # the repository, not the module

    # Moving the code keeps each alert's fingerprint; the line numbers follow.
    def fingerprints() -> dict[str, tuple[str, int]]:
        log = load(module / "dist/gopipe/lint.sarif")
        return {
            r["partialFingerprints"]["primaryLocationLineHash"]: (
                r["ruleId"],
                r["locations"][0]["physicalLocation"]["region"]["startLine"],
            )
            for run in log["runs"]
            for r in run["results"]
            if run["tool"]["driver"]["name"] != "gofmt"  # gofmt reports the first changed line
        }

    before = fingerprints()
    calc = module / "calc" / "calc.go"
    calc.write_text(calc.read_text().replace('import "fmt"\n', 'import "fmt"\n\n// Moved down.\n'))
    assert gopipe_run(module, "lint").exit_code == 1
    after = fingerprints()
    assert set(after) == set(before)
    assert all(after[k] == (rule, line + 2) for k, (rule, line) in before.items())

    # A clean lint: one run per linter with no results, which GitHub takes as "all fixed".
    (module / "calc" / "unformatted.go").unlink()
    clean = "// Package calc adds.\npackage calc\n\n// Add adds.\nfunc Add(a, b int) int {\n\treturn a\n}\n"
    calc.write_text(clean)
    for name in ("calc_test.go", "failing_test.go"):
        (module / "calc" / name).unlink()
    result = gopipe_run(module, "lint")
    assert result.exit_code == 0, result.report
    log = load(module / "dist/gopipe/lint.sarif")
    assert sarif_schema_errors(log) == [] and github_upload_problems(log, monorepo) == []
    assert [(r["tool"]["driver"]["name"], r["results"]) for r in log["runs"]] == [
        ("gofmt", []),
        ("go vet", []),
        ("staticcheck", []),
    ]
    # a cached lint (inputs unchanged) writes the same log: the drivers come back with the stage
    again = gopipe_run(module, "lint")
    assert again.stage("lint")["cached"] is True
    assert load(module / "dist/gopipe/lint.sarif") == log


def test_junit_and_the_test_stream_are_read_by_the_reporters(
    monorepo: Path, gopipe_run: Callable[..., RunResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = monorepo / SUBDIR
    secret = random_tokens.token_urlsafe(24)
    monkeypatch.setenv("REPORTS_API_TOKEN", secret)  # masked by its name; TestAdd prints it
    result = gopipe_run(module, "test")
    assert result.exit_code == 1, result.report
    out = module / "dist/gopipe"
    assert junit_schema_errors(out / "junit.xml") == []
    xml = JUnitXml.fromfile(str(out / "junit.xml"))
    cases = {case.name: case for suite in xml for case in suite}

    # go test's own verdicts, from the kept stream
    stream = [json.loads(line) for line in (out / "test.json").read_text().splitlines()]
    ends = [e for e in stream if e.get("Test") and e["Action"] in ("pass", "fail", "skip")]
    verdicts = {e["Test"]: e["Action"] for e in ends}
    assert set(cases) == set(verdicts)
    for name, case in cases.items():
        kind = {Failure: "fail", Skipped: "skip"}.get(type(case.result[0]), "?") if case.result else "pass"
        assert kind == verdicts[name], name
    assert verdicts["TestHalfOdd"] == verdicts["TestHalfOdd/odd"] == "fail"
    assert (xml.tests, xml.failures, xml.skipped) == (
        len(verdicts),
        list(verdicts.values()).count("fail"),
        list(verdicts.values()).count("skip"),
    )

    failing = f"{SUBDIR}/calc/failing_test.go"
    assert (cases["TestSubFails"].file, cases["TestSubFails"].line) == (failing, 5)
    assert (cases["TestHalfOdd/odd"].file, cases["TestHalfOdd/odd"].line) == (failing, 11)
    assert all((monorepo / str(case.file)).is_file() for case in cases.values())
    assert cases["TestSkipped"].result[0].message == "needs a database"
    assert "adding 2 and 3" in (cases["TestAdd"].system_out or "")
    root = xml._elem  # junitparser's element: the attributes the suite totals live on
    assert root.get("hostname") and root.get("timestamp") and float(root.get("time")) > 0
    assert all(s.hostname and s.timestamp and s.time is not None for s in xml)

    # the stream: every line an event, the secret masked, recorded as an artifact
    text = (out / "test.json").read_text()
    assert secret not in text and secret not in (out / "junit.xml").read_text()
    assert any("token in use: ***" in e.get("Output", "") for e in stream)
    assert {e["Action"] for e in stream} >= {"start", "run", "output", "pass", "fail", "skip"}
    assert all(e.get("Package") == "example.com/reports/calc" for e in stream)
    kinds = {a["kind"]: a for a in result.report["artifacts"]}
    assert kinds["test-json"]["path"] == "dist/gopipe/test.json"


def test_cobertura_is_read_by_pycobertura_with_both_numbers(
    monorepo: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    module = monorepo / SUBDIR
    (module / "calc" / "failing_test.go").unlink()
    result = gopipe_run(module, "coverage")
    assert result.exit_code == 0, result.report
    xml_path = module / "dist/gopipe/coverage.xml"
    text = xml_path.read_text()
    cobertura = Cobertura(str(xml_path))
    files = cobertura.files()
    assert files == [f"{SUBDIR}/calc/calc.go", f"{SUBDIR}/calc/unformatted.go"]
    assert cobertura.xml.find("sources/source").text == str(monorepo.resolve())
    assert all((monorepo / f).is_file() for f in files)  # resolvable against the checkout

    summary = next(a for a in result.report["artifacts"] if a["kind"] == "coverage-summary")["extra"]
    statements = re.search(r"gopipe statement coverage: ([\d.]+)% \((\d+) of (\d+) statements\)", text)
    assert statements is not None
    assert float(statements[1]) == pytest.approx(summary["percent"], abs=0.01)  # what gopipe prints
    assert (int(statements[2]), int(statements[3])) == (summary["covered"], summary["statements"])
    # line-rate counts lines, as Codecov does; pycobertura computes it from the <line> hits
    assert float(cobertura.line_rate()) == pytest.approx(summary["line_percent"] / 100, abs=1e-4)
    assert summary["line_percent"] != summary["percent"]  # the fixture makes them differ
    assert f"{summary['line_percent']:.1f}% " in (module / "dist/gopipe/coverage.md").read_text()
