"""The inner loop at a terminal: help that teaches, typos that get a suggestion, a config check
that needs no run, and arguments passed through to ``go test``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gopipe.cli import main
from gopipe.testing import make_git_repo

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello"
MULTI = ROOT / "tests" / "fixtures" / "gomod" / "multi"


def gopipe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gopipe.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def repo_from(src: Path, tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(src, repo, ignore=shutil.ignore_patterns("dist"))
    return make_git_repo(repo)


def test_help_lists_pipelines_stages_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for word in ("pipelines:", "ci", "cd", "stages:", "coverage", "examples:", "gopipe check", "-- -run"):
        assert word in out
    for command in ("run", "check", "plugins", "schema", "init", "merge", "new-plugin", "tools"):
        assert command in out


def test_every_subcommand_has_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("run", "check", "plugins", "init", "merge", "new-plugin", "tools"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        _usage, _, rest = capsys.readouterr().out.partition("\n\n")
        assert rest.strip() and not rest.startswith("positional") and not rest.startswith("options")


def test_misspelt_command_gets_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chekc"]) == 2
    assert "did you mean 'check'?" in capsys.readouterr().err


def test_misspelt_stage_gets_did_you_mean_and_a_report(tmp_path: Path) -> None:
    repo = repo_from(HELLO, tmp_path)
    result = gopipe("run", "covrage", "--plain", cwd=repo)
    assert result.returncode == 2
    assert "did you mean 'coverage'?" in result.stderr + result.stdout
    assert json.loads((repo / "dist" / "gopipe" / "report.json").read_text())["exit_code"] == 2


def test_arguments_after_dashdash_are_only_for_run(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["plugins", "--", "-run", "X"])
    assert exit_.value.code == 2


def test_check_accepts_the_example(tmp_path: Path) -> None:
    repo = repo_from(HELLO, tmp_path)
    result = gopipe("check", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "ok (" in result.stdout
    assert not (repo / "dist").exists()  # a check writes nothing


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ("[tool.gopipe.coverage.threshold]\ntotl = 80\n", "did you mean 'total'?"),
        ("[tool.gopipe.coverage.threshold]\ntotal = 180\n", "tool.gopipe.coverage.threshold.total"),
        ('[tool.gopipe.upload]\nproviders = ["registyr"]\n', "did you mean"),
        ('[tool.gopipe.notify]\nfail_on_error = "false"\n', "tool.gopipe.notify.fail_on_error"),
    ],
)
def test_check_catches_typos_in_stages_ci_does_not_run(tmp_path: Path, table: str, says: str) -> None:
    repo = repo_from(HELLO, tmp_path)
    (repo / "pyproject.toml").write_text('[tool.gopipe]\ntargets = ["linux/amd64"]\n' + table)
    result = gopipe("check", cwd=repo)
    assert result.returncode == 2
    assert says in result.stderr
    assert "Traceback" not in result.stderr


INERT = '[tool.gopipe.notify.slack]\nwebhook = { env = "SLACK_WEBHOOK_URL" }\n'  # no providers


@pytest.mark.parametrize(
    ("table", "plain", "strict"),
    [
        ("", 0, 0),
        (INERT, 0, 1),
        ("[tool.gopipe.coverage.threshold]\ntotl = 80\n", 2, 2),
        (INERT + "[tool.gopipe.coverage.threshold]\ntotl = 80\n", 2, 2),
    ],
    ids=["clean", "inert-table", "error", "error-and-inert"],
)
def test_check_exit_codes_with_and_without_strict(
    tmp_path: Path, table: str, plain: int, strict: int
) -> None:
    repo = repo_from(HELLO, tmp_path)
    (repo / "pyproject.toml").write_text('[tool.gopipe]\ntargets = ["linux/amd64"]\n' + table)
    loose = gopipe("check", cwd=repo)
    assert loose.returncode == plain, loose.stderr
    hard = gopipe("check", "--strict", cwd=repo)
    assert hard.returncode == strict, hard.stderr
    if table == INERT:
        for result in (loose, hard):
            assert "[tool.gopipe.notify.slack] is inert" in result.stderr
        assert "ok (" in loose.stdout and "ok (" not in hard.stdout
        assert "--strict fails on them" in hard.stderr
    for result in (loose, hard):
        assert "Traceback" not in result.stderr


def test_check_is_fast_on_the_example(tmp_path: Path) -> None:
    """The whole check in-process, plugins loaded, well under a second (the issue's bound)."""
    from gopipe.lifecycle import check_config

    repo = repo_from(HELLO, tmp_path)
    check_config(repo)  # imports and entry points warm
    start = time.perf_counter()
    _, errors, _ = check_config(repo)
    elapsed = time.perf_counter() - start
    assert errors == []
    assert elapsed < 0.5, f"gopipe check took {elapsed:.3f}s"


@pytest.mark.slow
def test_arguments_after_dashdash_reach_go_test(tmp_path: Path) -> None:
    repo = repo_from(MULTI, tmp_path)
    code = main(
        ["run", "test", "-C", str(repo), "--plain", "--no-notify", "--", "-run", "TestMean", "./internal/..."]
    )
    assert code == 0
    report = json.loads((repo / "dist" / "gopipe" / "report.json").read_text())
    test = next(s for s in report["stages"] if s["name"] == "test")
    assert test["summary"].startswith("1/1 tests passed"), test["summary"]
    log = (repo / "dist" / "gopipe" / "logs" / "test.log").read_text()
    assert "-run TestMean ./internal/..." in log


def test_help_imports_no_plugin_host_and_names_every_stage() -> None:
    """``gopipe --help`` stays cheap: no pluggy, no error types, no plugin host, no rich."""
    import subprocess
    import sys

    from gopipe.cli import STAGE_NAMES
    from gopipe.stages import Stage

    assert tuple(s.value for s in Stage) == STAGE_NAMES
    code = (
        "import sys\nfrom gopipe.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('pluggy', 'gopipe.errors', 'gopipe.manager', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_shell_completion_offers_commands_and_stages(tmp_path: Path) -> None:
    """argcomplete's protocol: the shell sets COMP_LINE/COMP_POINT and reads the words back."""
    import os
    import subprocess
    import sys

    def complete(line: str) -> set[str]:
        out = tmp_path / "words"
        env = {
            **os.environ,
            "_ARGCOMPLETE": "1",
            "_ARGCOMPLETE_IFS": "\n",
            "COMP_LINE": line,
            "COMP_POINT": str(len(line)),
            "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        }
        subprocess.run([sys.executable, "-m", "gopipe.cli"], env=env, check=True, timeout=60)
        return {word.strip() for word in out.read_text().split("\n")}

    assert {"run", "check"} <= complete("gopipe ")
    assert "release" in complete("gopipe run re")
    assert "lint" in complete("gopipe run l")


def test_a_run_ends_with_where_to_look(tmp_path: Path) -> None:
    from gopipe.lifecycle import where_to_look

    out = tmp_path / "dist" / "gopipe"
    (out / "logs").mkdir(parents=True)
    (out / "report.json").write_text("{}")
    line = where_to_look(out)
    assert "report: " in line and line.split("report: ")[1].split()[0].endswith("dist/gopipe/report.json")
    assert "logs: " in line and "coverage" not in line
    (out / "coverage.html").write_text("<html>")
    assert "coverage: " in where_to_look(out)
    assert where_to_look(tmp_path / "nothing") == ""
