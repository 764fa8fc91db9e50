"""``gopipe init`` writes a table fitted to the repository: its main packages (never a
placeholder), its linters, the current coverage only when asked (``--measure``, bounded),
notifier blocks that work once uncommented, and no threshold that is not the default."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from gopipe.cli import main
from gopipe.init_fit import fit_repository, total_coverage
from gopipe.testing import make_git_repo

pytestmark = pytest.mark.slow  # go list / go test

MAIN = "package main\n\nfunc main() {}\n"
LIB = (
    "package calc\n\n// Add adds.\nfunc Add(a, b int) int { return a + b }\n\n"
    "// Sub subtracts.\nfunc Sub(a, b int) int { return a - b }\n"
)
LIB_TEST = (
    'package calc\n\nimport "testing"\n\n'
    "func TestAdd(t *testing.T) {\n\tif Add(1, 1) != 2 {\n\t\tt.Fatal()\n\t}\n}\n"
)
SLOW_TEST = (
    'package calc\n\nimport (\n\t"testing"\n\t"time"\n)\n\n'
    "func TestSlow(t *testing.T) { time.Sleep(time.Minute) }\n"
)


def module(tmp_path: Path, files: dict[str, str]) -> Path:
    repo = tmp_path / "repo"
    for rel, text in {"go.mod": "module example.com/fit\n\ngo 1.24\n", **files}.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    return make_git_repo(repo)


def table(repo: Path, *args: str) -> str:
    assert main(["init", "-C", str(repo), *args]) == 0
    return (repo / "pyproject.toml").read_text()


def uncommented(text: str, *keys: str) -> dict[str, object]:
    """The table with the lines of ``keys`` (and their table headers) uncommented, parsed."""
    lines = []
    for line in text.splitlines():
        bare = line.removeprefix("# ")
        if line.startswith("# [") or any(bare.startswith(f"{k} =") for k in keys):
            line = bare
        lines.append(line)
    return tomllib.loads("\n".join(lines))["tool"]["gopipe"]


def test_the_main_packages_it_found_and_working_blocks(tmp_path: Path) -> None:
    repo = module(tmp_path, {"cmd/api/main.go": MAIN, "cmd/worker/main.go": MAIN})
    text = table(repo)
    assert '# main = ["./cmd/api", "./cmd/worker"]' in text
    assert "cmd/app" not in text and "total = 80" not in text
    assert tomllib.loads(text)["tool"]["gopipe"] == {}  # all defaults: nothing is set
    parsed = uncommented(text, "main", "providers", "webhook", "total")
    assert parsed["main"] == ["./cmd/api", "./cmd/worker"]
    notify = parsed["notify"]
    assert isinstance(notify, dict) and notify["providers"] == ["slack"] and "webhook" in notify["slack"]
    assert parsed["coverage"]["threshold"] == {"total": 0}  # type: ignore[index]
    assert main(["check", "-C", str(repo)]) == 0


def test_main_packages_the_default_would_miss_are_set(tmp_path: Path) -> None:
    repo = module(tmp_path, {"cmd/api/main.go": MAIN, "tools/gen/main.go": MAIN})
    text = table(repo)
    assert tomllib.loads(text)["tool"]["gopipe"]["main"] == ["./cmd/api", "./tools/gen"]


def test_a_library_says_build_is_a_compile_check(tmp_path: Path) -> None:
    repo = module(tmp_path, {"calc.go": LIB})
    text = table(repo)
    assert "no main package: build checks that everything compiles" in text
    assert "main =" not in text


def test_the_linters_the_repository_uses(tmp_path: Path) -> None:
    repo = module(tmp_path, {"calc.go": LIB, ".golangci.yml": 'version: "2"\n'})
    text = table(repo)
    assert '# providers = ["golangci-lint"]   # chosen by .golangci.yml' in text


def test_measure_suggests_the_current_coverage(tmp_path: Path) -> None:
    repo = module(tmp_path, {"calc.go": LIB, "calc_test.go": LIB_TEST})
    assert "# total = 0   # minimum total coverage" in table(repo)  # without it: no tests run
    (repo / "pyproject.toml").unlink()
    text = table(repo, "--measure")
    assert "# total = 50   # coverage now: 50.0%" in text
    assert uncommented(text, "total")["coverage"]["threshold"] == {"total": 50}  # type: ignore[index]


def test_measuring_is_bounded(tmp_path: Path) -> None:
    repo = module(tmp_path, {"calc.go": LIB, "calc_test.go": SLOW_TEST})
    fit = fit_repository(repo, measure=True, limit_s=3)
    assert fit.coverage is None
    assert fit.notes == ["coverage not measured: go test took longer than 3s"]


def test_total_coverage_counts_each_block_once() -> None:
    profile = "mode: set\na.go:1.1,2.2 3 1\na.go:3.1,4.2 1 0\na.go:3.1,4.2 1 1\nb.go:1.1,1.2 4 0\n"
    assert total_coverage(profile) == pytest.approx(100 * 4 / 8)
    assert total_coverage("mode: set\n") is None
