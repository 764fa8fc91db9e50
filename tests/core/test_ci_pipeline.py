"""`gopipe run ci` on real Go modules with the real Go toolchain: outputs, stamping,
reproducibility, several main packages, and independent stages."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from gopipe.testing import RunResult, make_git_repo

pytestmark = pytest.mark.slow  # real Go builds of examples/hello


def git_sha(repo: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_hello_ci_passes_with_valid_outputs(hello_repo: Path, gopipe_run: Callable[..., RunResult]) -> None:
    result = gopipe_run(hello_repo, "ci")
    assert result.exit_code == 0, json.dumps(result.report, indent=1)
    report = result.report
    assert report["status"] == "success"
    assert [s["name"] for s in report["stages"]] == ["lint", "test", "coverage", "build"]
    assert all(s["status"] == "success" for s in report["stages"])
    assert report["git"]["sha"] == git_sha(hello_repo)
    out = hello_repo / "dist" / "gopipe"

    sarif = json.loads((out / "lint.sarif").read_text())
    assert sarif["version"] == "2.1.0" and isinstance(sarif["runs"], list)

    junit = ET.parse(out / "junit.xml").getroot()
    assert junit.tag == "testsuites"
    assert int(junit.get("tests", "0")) >= 3 and junit.get("failures") == "0"
    names = {case.get("name") for case in junit.iter("testcase")}
    assert {"TestGreeting", "TestHandler", "TestVersionDefaults"} <= names

    cobertura = ET.parse(out / "coverage.xml").getroot()
    assert cobertura.tag == "coverage" and 0 < float(cobertura.get("line-rate", "0")) <= 1
    filenames = {c.get("filename") for c in cobertura.iter("class")}
    assert "internal/greet/greet.go" in filenames
    assert all((hello_repo / str(f)).is_file() for f in filenames)
    assert "<html" in (out / "coverage.html").read_text()[:500].lower()
    summary = next(a for a in report["artifacts"] if a["kind"] == "coverage-summary")
    assert summary["extra"]["packages"]["example.com/hello/internal/greet"] == 100.0
    assert summary["extra"]["files"]["internal/greet/greet.go"] == 100.0
    assert "| `cmd/hello/main.go` |" in (out / "coverage.md").read_text()

    binaries = [a for a in report["artifacts"] if a["kind"] == "binary"]
    assert {(b["os"], b["arch"]) for b in binaries} == {
        ("linux", "amd64"),
        ("linux", "arm64"),
        ("darwin", "arm64"),
        ("windows", "amd64"),
    }
    linux = next(b for b in binaries if (b["os"], b["arch"]) == ("linux", "amd64"))
    printed = subprocess.run(
        [str(hello_repo / linux["path"]), "-version"], capture_output=True, text=True, check=True
    ).stdout
    sha = git_sha(hello_repo)
    assert printed.strip() == f"hello {report['git']['version']} (commit {sha}, built 2026-01-02T03:04:05Z)"
    assert (hello_repo / next(b for b in binaries if b["os"] == "windows")["path"]).name == "hello.exe"

    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("stage_started") == 4 and kinds.count("stage_finished") == 4
    assert all(e["sha"] == sha for e in events)
    assert (out / "logs" / "test.log").read_text().count("go test -json") == 1


def test_build_is_byte_reproducible(hello_repo: Path, gopipe_run: Callable[..., RunResult]) -> None:
    def build() -> dict[str, str]:
        shutil.rmtree(hello_repo / "dist", ignore_errors=True)
        result = gopipe_run(hello_repo, "build")
        assert result.exit_code == 0
        return {a["path"]: a["sha256"] for a in result.report["artifacts"] if a["kind"] == "binary"}

    first, second = build(), build()
    assert len(first) == 4 and first == second


def test_several_main_packages_are_found_and_built(
    tmp_path: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    repo = tmp_path / "multi"
    for name in ("api", "worker"):
        (repo / "cmd" / name).mkdir(parents=True)
        (repo / "cmd" / name / "main.go").write_text(
            f'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/multi/internal/core"\n)\n\n'
            f'var version = "dev"\n\nfunc main() {{ fmt.Println("{name}", version, core.Answer()) }}\n'
        )
    (repo / "internal" / "core").mkdir(parents=True)
    (repo / "internal" / "core" / "core.go").write_text(
        "package core\n\n// Answer is the answer.\nfunc Answer() int { return 42 }\n"
    )
    (repo / "internal" / "core" / "core_test.go").write_text(
        'package core\n\nimport "testing"\n\nfunc TestAnswer(t *testing.T) {\n'
        "\tif Answer() != 42 {\n\t\tt.Fatal(Answer())\n\t}\n}\n"
    )
    (repo / "go.mod").write_text("module example.com/multi\n\ngo 1.24\n")
    (repo / "pyproject.toml").write_text(
        '[tool.gopipe]\ntargets = ["linux/amd64", "linux/arm64"]\n'
        "[tool.gopipe.coverage.threshold]\ntotal = 30\n"
    )
    make_git_repo(repo)
    result = gopipe_run(repo, "ci")
    assert result.exit_code == 0, result.report
    binaries = {
        (a["name"], a["arch"]): a["path"] for a in result.report["artifacts"] if a["kind"] == "binary"
    }
    assert set(binaries) == {("api", "amd64"), ("api", "arm64"), ("worker", "amd64"), ("worker", "arm64")}
    out = subprocess.run(
        [str(repo / binaries[("worker", "amd64")])], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("worker 0.0.0-") and out.strip().endswith(" 42")


def test_zero_config_repo_gets_sensible_defaults(go_repo: Path, gopipe_run: Callable[..., RunResult]) -> None:
    """No pyproject.toml at all: default linters, go test, coverage reports, four targets."""
    (go_repo / "pyproject.toml").unlink()
    result = gopipe_run(go_repo, "ci")
    assert result.exit_code == 0, result.report
    providers = {s["name"]: [p["name"] for p in s["providers"]] for s in result.report["stages"]}
    assert providers == {
        "lint": ["gofmt", "govet", "staticcheck"],
        "test": ["go"],
        "coverage": ["summary", "threshold", "cobertura", "html"],
        "build": ["go"],
    }
    built = {(a["os"], a["arch"]) for a in result.report["artifacts"] if a["kind"] == "binary"}
    assert built == {("linux", "amd64"), ("linux", "arm64"), ("darwin", "arm64"), ("windows", "amd64")}
