"""``GITHUB_ACTIONS=true gopipe run ci --plain`` on real Go: failures a reader can act on.

A module in a subdirectory of its git repository (``repo/svc``, run with ``-C repo/svc``)
with failing tests (multi-line messages, ``t.Log`` lines, a failing subtest, 80 lines of
noise, a line that looks like a workflow command), a skipped test, and an unformatted file
named ``a,b:c%d.go``. The console output is read with the test's own parser of the spec.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.core.actions_log import ActionsLog, parse_log

from gopipe.testing import copy_tree, example_project, make_git_repo

pytestmark = pytest.mark.slow  # runs the Go toolchain

HOSTILE = "a,b:c%d.go"
CALC = """package calc

// Add returns a + b, wrongly for two negatives.
func Add(a, b int) int {
	if a < 0 && b < 0 {
		return a + b - 1
	}
	return a + b
}
"""
FAILING_TESTS = """package calc

import (
	"fmt"
	"testing"
)

func TestAdd(t *testing.T) {
	t.Log("adding 1 and 2")
	fmt.Println("::error::forged by the test output")
	if got := Add(1, 2); got != 4 {
		t.Errorf("Add(1, 2) = %d\\nwant 4\\nhint: check the carry", got)
	}
}

func TestTable(t *testing.T) {
	cases := []struct {
		name    string
		a, b, w int
	}{{"zero", 0, 0, 0}, {"negative", -1, -1, -2}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Add(c.a, c.b); got != c.w {
				t.Fatalf("Add(%d, %d) = %d, want %d", c.a, c.b, got, c.w)
			}
		})
	}
}

func TestNoisy(t *testing.T) {
	for i := 1; i <= 80; i++ {
		t.Logf("noise line %d", i)
	}
	t.Error("noisy failure at the end")
}

func TestNeedsDatabase(t *testing.T) {
	t.Skip("needs a database: set CALC_DB")
}

func TestPasses(t *testing.T) {}
"""
PASSING_TESTS = """package calc

import "testing"

func TestAdd(t *testing.T) {
	if Add(1, 2) != 3 {
		t.Fatal("wrong")
	}
}

func TestNeedsDatabase(t *testing.T) {
	t.Skip("needs a database: set CALC_DB")
}
"""
BOOM = """package boom

import "testing"

func TestBoom(t *testing.T) {
	t.Log("about to write to a nil map")
	var m map[string]int
	m["x"] = 1
}
"""
UGLY = "package calc\n\nfunc   Double( x int )int{return 2*x}\n"
MAIN = (
    'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/svc/calc"\n)\n\n'
    "func main() { fmt.Println(calc.Add(1, 2)) }\n"
)
PYPROJECT = """[tool.gopipe]
targets = ["linux/amd64"]

[tool.gopipe.lint]
providers = ["gofmt", "govet"]

[tool.gopipe.coverage]
providers = ["summary"]
"""
GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.example",
    "GITHUB_REPOSITORY": "acme/svc",
    "GITHUB_RUN_ID": "77",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    svc = repo / "svc"
    (svc / "calc").mkdir(parents=True)
    (svc / "cmd" / "svc").mkdir(parents=True)
    (repo / "README.md").write_text("a repository whose Go module is svc/\n")
    (svc / ".gitignore").write_text("/dist/\n")
    (svc / "go.mod").write_text("module example.com/svc\n\ngo 1.24\n")
    (svc / "calc" / "calc.go").write_text(CALC)
    (svc / "calc" / "calc_test.go").write_text(FAILING_TESTS)
    (svc / "calc" / HOSTILE).write_text(UGLY)
    (svc / "boom").mkdir()
    (svc / "boom" / "boom.go").write_text("package boom\n\n// One is 1.\nfunc One() int { return 1 }\n")
    (svc / "boom" / "boom_test.go").write_text(BOOM)
    (svc / "cmd" / "svc" / "main.go").write_text(MAIN)
    (svc / "pyproject.toml").write_text(PYPROJECT)
    return make_git_repo(repo)


def _ci(cwd: Path, module: str, summary: Path) -> tuple[int, ActionsLog, str]:
    env = {**os.environ, **GITHUB, "GITHUB_STEP_SUMMARY": str(summary)}
    proc = subprocess.run(
        [sys.executable, "-m", "gopipe.cli", "run", "ci", "--plain", "-C", module],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return proc.returncode, parse_log(proc.stdout), proc.stdout + proc.stderr


def test_failing_module_in_a_subdirectory(repo: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    code, log, out = _ci(tmp_path, "repo/svc", summary)
    assert code == 1, out
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()

    # each failing test in a group of its own; the parent of a failing subtest has none
    titles = [g.title for g in log.groups]
    add = log.group("✘ test: FAIL TestAdd (example.com/svc/calc, ", prefix=True).lines
    assert add == [
        "=== RUN   TestAdd",
        "    calc_test.go:9: adding 1 and 2",
        "::error::forged by the test output",  # shown, not run
        "    calc_test.go:12: Add(1, 2) = 3",
        "        want 4",
        "        hint: check the carry",
        "--- FAIL: TestAdd (0.00s)",
    ]
    sub = log.group("✘ test: FAIL TestTable/negative (example.com/svc/calc, ", prefix=True).lines
    assert "    calc_test.go:24: Add(-1, -1) = -3, want -2" in sub
    assert not any("FAIL TestTable " in t for t in titles), titles
    noisy = log.group("✘ test: FAIL TestNoisy (example.com/svc/calc, ", prefix=True).lines
    assert noisy[0] == "… 33 earlier lines not shown; all 83 are in svc/dist/gopipe/logs/test.log"
    assert len(noisy) == 51 and noisy[-2] == "    calc_test.go:34: noisy failure at the end"
    test_group = log.group("test (failed)").lines
    assert "--- SKIP: TestNeedsDatabase (example.com/svc/calc): needs a database: set CALC_DB" in test_group

    # annotations: one per failing test and finding, escaped, named from the repository's top
    errors = {(c.properties.get("file"), c.properties.get("line")): c for c in log.of("error")}
    assert all(c.group is None for c in errors.values())
    assert "forged by the test output" not in [c.message for c in log.commands]
    assert errors["svc/calc/calc_test.go", "12"].message == "Add(1, 2) = 3\nwant 4\nhint: check the carry"
    assert (
        errors["svc/calc/calc_test.go", "12"].properties["title"] == "TestAdd failed (example.com/svc/calc)"
    )
    assert errors["svc/calc/calc_test.go", "24"].message == "Add(-1, -1) = -3, want -2"
    assert errors["svc/calc/calc_test.go", "34"].message == "noisy failure at the end"
    gofmt = errors[f"svc/calc/{HOSTILE}", "3"]
    assert gofmt.properties == {
        "file": f"svc/calc/{HOSTILE}",
        "line": "3",
        "col": "1",
        "endLine": "3",
        "title": "gofmt",
    }
    boom = errors["svc/boom/boom_test.go", "8"]  # a panic: at the test's frame in the stack
    assert boom.properties["title"] == "TestBoom panicked (example.com/svc/boom)"
    assert boom.message.startswith("panic: assignment to entry in nil map")
    assert len(errors) == 5, sorted(errors, key=str)
    diff = log.group(f"✘ lint: [gofmt] gofmt -d svc/calc/{HOSTILE}").lines
    assert (
        "-func   Double( x int )int{return 2*x}" in diff
        and "+func Double(x int) int { return 2 * x }" in diff
    )
    assert "✘ test failed" in "\n".join(log.top)
    assert "2/8 tests passed, 5 failed, 1 skipped in 3 packages" in out

    # the log file has every line of every failing test
    test_log = (repo / "svc/dist/gopipe/logs/test.log").read_text()
    for i in range(1, 81):
        assert f"    calc_test.go:32: noise line {i}\n" in test_log
    assert ">>> FAIL TestAdd (example.com/svc/calc, " in test_log and "\n=== RUN   TestAdd\n" in test_log
    assert "        hint: check the carry\n" in test_log and "needs a database: set CALC_DB" in test_log

    text = summary.read_text()
    blob = f"https://github.example/acme/svc/blob/{sha}"
    assert text.startswith("### ❌ gopipe ci: failed")
    assert "| coverage | – skipped | 0.0s | skipped: test failed |" in text
    assert (
        "- **TestAdd failed (example.com/svc/calc)** at "
        f"[svc/calc/calc\\_test.go:12]({blob}/svc/calc/calc_test.go#L12)" in text
    )
    assert "  ```text\n  Add(1, 2) = 3\n  want 4\n  hint: check the carry\n  ```" in text
    assert f"| error | [svc/calc/{HOSTILE}:3:1]({blob}/svc/calc/a%2Cb%3Ac%25d.go#L3) | gofmt |" in text
    assert "[Artifacts of this run](https://github.example/acme/svc/actions/runs/77#artifacts)" in text

    # the tests fixed, the file still unformatted: coverage is measured and summarised
    (repo / "svc/calc/calc_test.go").write_text(PASSING_TESTS)
    (repo / "svc/boom/boom_test.go").unlink()
    again = tmp_path / "again.md"
    code, log, out = _ci(tmp_path, "repo/svc", again)
    assert code == 1, out
    text = again.read_text()
    assert "| test | ✔ success |" in text and "1/2 tests passed, 1 skipped in 3 packages" in text
    assert "#### Coverage: " in text and "| **total** | **" in text
    assert "| example.com/svc/calc | " in text and "| example.com/svc/cmd/svc | 0.0% |" in text
    assert "| example.com/svc/boom | 0.0% |" in text
    assert "#### Lint findings (1)" in text and "Test failures" not in text


def test_hello_green_run_summary(tmp_path: Path) -> None:
    hello = make_git_repo(copy_tree(example_project("hello"), tmp_path / "hello"))
    summary = tmp_path / "summary.md"
    code, log, out = _ci(tmp_path, str(hello), summary)
    assert code == 0, out
    assert not log.of("error", "warning", "notice")
    assert {"lint (success)", "test (success)", "coverage (success)", "build (success)"} <= {
        g.title for g in log.groups
    }
    text = summary.read_text()
    assert text.startswith("### ✅ gopipe ci: success\n")
    for stage in ("lint", "test", "coverage", "build"):
        assert f"| {stage} | ✔ success |" in text
    assert "| test | ✔ success | " in text and "3/3 tests passed in 2 packages" in text
    assert "#### Coverage: 46.9% (15/32 statements)" in text
    assert "| **total** | **46.9%** |" in text
    assert "| example.com/hello/cmd/hello | 0.0% |\n| example.com/hello/internal/greet | 100.0% |" in text
    assert "Test failures" not in text and "Lint findings" not in text
