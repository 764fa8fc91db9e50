"""A Go repo in a bad state fails in the right stage, naming the file, while independent
stages still finish and the report is written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gopipe.testing import RunResult

pytestmark = pytest.mark.slow  # every test runs the real Go toolchain on a broken module

GREET = "internal/greet/greet.go"


def _append(repo: Path, rel: str, text: str) -> None:
    path = repo / rel
    path.write_text(path.read_text() + text)


def unformatted(repo: Path) -> None:
    _append(repo, GREET, "\nfunc   ugly( )int{return 1}\n")


def vet_error(repo: Path) -> None:
    _append(
        repo,
        GREET,
        "\n// Broken formats an int as a string.\nfunc Broken(n int) string "
        '{\n\treturn fmt.Sprintf("%s", n)\n}\n',
    )
    path = repo / GREET
    path.write_text(path.read_text().replace("import (\n", 'import (\n\t"fmt"\n'))


def data_race(repo: Path) -> None:
    (repo / "internal/greet/race_test.go").write_text(
        'package greet\n\nimport (\n\t"sync"\n\t"testing"\n)\n\nfunc TestCounter(t *testing.T) {\n'
        "\tn := 0\n\tvar wg sync.WaitGroup\n\tfor i := 0; i < 4; i++ {\n\t\twg.Add(1)\n"
        "\t\tgo func() {\n\t\t\tdefer wg.Done()\n\t\t\tn++\n\t\t}()\n\t}\n\twg.Wait()\n"
        "\t_ = n\n}\n"
    )


def failing_test(repo: Path) -> None:
    (repo / "internal/greet/fail_test.go").write_text(
        'package greet\n\nimport "testing"\n\nfunc TestWrong(t *testing.T) {\n'
        '\tif got := Greeting("x"); got != "Hi, x!" {\n\t\tt.Errorf("Greeting = %q", got)\n\t}\n}\n'
    )


def compile_error(repo: Path) -> None:
    (repo / "cmd/hello/broken.go").write_text(
        "package main\n\nfunc broken() int {\n\treturn undefinedName\n}\n"
    )


def low_coverage(repo: Path) -> None:
    config = repo / "pyproject.toml"
    config.write_text(config.read_text().replace("total = 40", "total = 99"))


CASES = [
    # (breaker, failed stage, text in the stage error, stages that must still succeed)
    (unformatted, "lint", "internal/greet/greet.go:", {"test", "coverage", "build"}),
    (vet_error, "lint", "internal/greet/greet.go:", {"build"}),
    (
        data_race,
        "test",
        "data race detected: TestCounter (example.com/hello/internal/greet), "
        "first at internal/greet/race_test.go:",
        {"lint", "build"},
    ),
    (
        failing_test,
        "test",
        "1 test failed: TestWrong (example.com/hello/internal/greet), first at internal/greet/fail_test.go:7",
        {"lint", "build"},
    ),
    (compile_error, "build", "cmd/hello/broken.go:4:", set()),
    (low_coverage, "coverage", "is below the threshold 99%", {"lint", "test", "build"}),
]


@pytest.mark.parametrize(
    ("breaker", "stage", "message", "still_ok"), CASES, ids=[c[0].__name__ for c in CASES]
)
def test_broken_repo_fails_in_the_right_stage(
    hello_repo: Path,
    gopipe_run: Callable[..., RunResult],
    breaker: Callable[[Path], None],
    stage: str,
    message: str,
    still_ok: set[str],
) -> None:
    breaker(hello_repo)
    result = gopipe_run(hello_repo, "ci")
    assert result.exit_code == 1
    report = result.report
    assert report["status"] == "failed"
    failed = result.stage(stage)
    assert failed["status"] == "failed"
    assert message in failed["error"], failed["error"]
    for name in still_ok:
        assert result.stage(name)["status"] == "success", result.stage(name)
    if stage == "test":
        assert result.stage("coverage")["status"] == "skipped"
        assert result.stage("coverage")["error"] == "skipped: test failed"


def test_unformatted_file_is_not_rewritten_and_diff_is_logged(
    hello_repo: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    unformatted(hello_repo)
    before = (hello_repo / GREET).read_text()
    result = gopipe_run(hello_repo, "lint")
    assert result.exit_code == 1
    assert (hello_repo / GREET).read_text() == before
    log = (hello_repo / "dist/gopipe/logs/lint.log").read_text()
    assert "+func ugly() int { return 1 }" in log
    assert "-func   ugly( )int{return 1}" in log


def test_missing_go_mod_is_a_config_error(tmp_path: Path, gopipe_run: Callable[..., RunResult]) -> None:
    (tmp_path / "main.go").write_text("package main\n\nfunc main() {}\n")
    result = gopipe_run(tmp_path, "ci")
    assert result.exit_code == 2
    assert "go.mod: no go.mod in the repository root" in result.report["error"]
