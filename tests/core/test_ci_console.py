"""CI-mode console and step summary, without Go: escaping, groups, masking, 1 MiB, links.

The workflow-command parser is the test's own (tests/core/actions_log.py, from the spec)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from tests.core.actions_log import parse_command, parse_log

from gopipe.artifacts import Artifact, Finding
from gopipe.console import Console, annotation, workflow_command
from gopipe.git import GitInfo
from gopipe.report import Report, StageResult
from gopipe.secrets import Redactor
from gopipe.stagelog import LogBlock, StageLog
from gopipe.summary import LIMIT, step_summary
from gopipe_plugins._common.findings import relative

HOSTILE_NAMES = [
    "svc/calc/a,b:c%d.go",
    "svc/x%0Ay%25z.go",  # looks escaped already: must come back literally
    "svc/a::b.go",
    "svc/sp ace/ö=1.go",
    "svc/line\nbreak\r.go",
]

GIT = GitInfo(
    sha="5f0c2d9a8b7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a",
    short_sha="5f0c2d9",
    branch="main",
    tag=None,
    version="1.2.3",
    dirty=False,
    commit_time=1767323045,
    author=None,
    subject=None,
    remote_url=None,
    default_branch="main",
)
GITHUB = {
    "GITHUB_SERVER_URL": "https://github.example",
    "GITHUB_REPOSITORY": "acme/svc",
}


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_annotation_properties_round_trip(name: str) -> None:
    finding = Finding(
        "gofmt",
        "gofmt",
        "100% wrong,\nsecond line: with colons\r\nthird",
        file=name,
        line=3,
        col=1,
        end_line=5,
        title="a, b: c%",
    )
    line = annotation(finding, Redactor())
    assert "\n" not in line and "\r" not in line
    parsed = parse_command(line)
    assert parsed is not None
    command, props, message = parsed
    assert command == "error"
    assert props == {"file": name, "line": "3", "col": "1", "endLine": "5", "title": "a, b: c%"}
    assert message == finding.message


def test_levels_titles_and_missing_positions() -> None:
    warn = parse_command(annotation(Finding("staticcheck", "SA4006", "unused", level="warning"), Redactor()))
    note = parse_command(annotation(Finding("x", "y", "m", file="a.go", level="note"), Redactor()))
    assert warn == ("warning", {"title": "staticcheck SA4006"}, "unused")
    assert note == ("notice", {"file": "a.go", "title": "x y"}, "m")
    assert workflow_command("endgroup", {}, "") == "::endgroup::"


def test_secrets_are_masked_before_they_are_escaped() -> None:
    redactor = Redactor()
    redactor.add("p%w,d:9Zq7xK")
    redactor.add("line-one-8Hq2\nline-two-3Jx9")
    finding = Finding(
        "t",
        "r",
        "token p%w,d:9Zq7xK and line-one-8Hq2\nline-two-3Jx9 end",
        file="dir/p%w,d:9Zq7xK.go",
        line=1,
        title="about p%w,d:9Zq7xK",
    )
    stream = io.StringIO()
    console = Console(redactor, stream=stream, github=True)
    console.annotate(finding)
    out = stream.getvalue()
    (command,) = parse_log(out).commands
    for text in (out, command.message, *command.properties.values()):
        assert "9Zq7xK" not in text and "8Hq2" not in text and "3Jx9" not in text
    assert command.properties["file"] == "dir/***.go"
    assert command.message == "token *** and *** end"


def _console(tmp_path: Path, redactor: Redactor | None = None) -> tuple[Console, io.StringIO]:
    stream = io.StringIO()
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), **GITHUB}
    return Console(redactor or Redactor(), stream=stream, github=True, environ=env), stream


def test_stage_output_blocks_and_annotations_in_ci(tmp_path: Path) -> None:
    console, stream = _console(tmp_path)
    noisy = tuple(f"    calc_test.go:9: line {i}" for i in range(1, 81))
    forged = ("=== RUN   TestAdd", "::error::forged", "  ::endgroup::", "##[error]old style", "--- FAIL")
    console.annotate(
        Finding("go test", "test", "Add = 3\nwant 4", file="svc/calc/calc_test.go", line=12), "test"
    )
    assert stream.getvalue() == ""  # held until the stage's output is shown
    result = StageResult("test", "failed", 1.5, error="go: 2 tests failed", summary="1/3 tests passed")
    console.stage_finished(
        result,
        ["$ go test -json ./...", "--- SKIP: TestDB (example.com/svc): needs a database"],
        [
            LogBlock("FAIL TestNoisy (example.com/svc)", noisy),
            LogBlock("FAIL TestAdd (example.com/svc)", forged),
        ],
        "svc/dist/gopipe/logs/test.log",
    )
    log = parse_log(stream.getvalue())
    assert [g.title for g in log.groups] == [
        "test (failed)",
        "✘ test: FAIL TestNoisy (example.com/svc)",
        "✘ test: FAIL TestAdd (example.com/svc)",
    ]
    assert log.group("test (failed)").lines[1] == "--- SKIP: TestDB (example.com/svc): needs a database"
    noisy_group = log.group("✘ test: FAIL TestNoisy (example.com/svc)").lines
    assert noisy_group[0] == "… 30 earlier lines not shown; all 80 are in svc/dist/gopipe/logs/test.log"
    assert noisy_group[1:] == list(noisy[-50:])
    assert log.group("✘ test: FAIL TestAdd (example.com/svc)").lines == list(forged)
    (error,) = log.commands  # the forged commands in the test's output were not run
    assert error.group is None and error.message == "Add = 3\nwant 4"
    assert error.properties["file"] == "svc/calc/calc_test.go"
    assert log.top[-2:] == ["✘ test failed (1.5s) — 1/3 tests passed", "  test: go: 2 tests failed"]


def test_plain_output_shows_blocks_of_a_failed_stage(tmp_path: Path) -> None:
    stream = io.StringIO()
    console = Console(Redactor(), stream=stream)
    block = LogBlock("FAIL TestNoisy (x)", tuple(f"l{i}" for i in range(60)))
    console.stage_finished(
        StageResult("test", "failed", 1.0), ["$ go test"], [block], "dist/gopipe/logs/test.log"
    )
    out = stream.getvalue().splitlines()
    assert out[:3] == [
        "  test | $ go test",
        "  test | ── FAIL TestNoisy (x)",
        "  test | … 10 earlier lines in dist/gopipe/logs/test.log",
    ]
    assert out[3] == "  test | l10" and out[52] == "  test | l59"
    assert "::" not in stream.getvalue()


def test_stage_log_keeps_blocks_whole_and_masked(tmp_path: Path) -> None:
    redactor = Redactor()
    redactor.add("multi-7Kq\nline-2Vb")
    log = StageLog(tmp_path / "logs" / "test.log", redactor)
    log.write("$ go test")
    log.block("FAIL TestX (pkg)", ["a", "multi-7Kq", "line-2Vb", "b"])
    log.close()
    assert log.lines == ["$ go test"]
    assert log.blocks == [LogBlock("FAIL TestX (pkg)", ("a", "***", "b"))]
    text = (tmp_path / "logs" / "test.log").read_text()
    assert text == "$ go test\n>>> FAIL TestX (pkg)\na\n***\nb\n<<< FAIL TestX (pkg)\n"


def _report(**extra: object) -> Report:
    stages = [
        StageResult("lint", "failed", 0.7, error="gofmt: 1 finding", summary="gofmt: 1 finding"),
        StageResult("test", "failed", 2.0, summary="2/5 tests passed, 2 failed, 1 skipped in 1 packages"),
        StageResult("coverage", "success", 0.0, summary="coverage 61.5%", cached=True),
        StageResult("build", "success", 3.1, summary="1 binary for 1 targets"),
    ]
    artifacts = [
        Artifact(
            "coverage-summary",
            "coverage.md",
            extra={
                "percent": 61.5,
                "statements": 13,
                "covered": 8,
                "packages": {f"example.com/svc/p{i:02}": 100.0 - i for i in range(14)},
            },
        ),
        Artifact(
            "image-ref",
            "svc",
            extra={"reference": "registry.test/acme/svc@sha256:" + "ab" * 32, "tags": ["1.2.3"]},
        ),
        Artifact(
            "deployment",
            "staging",
            extra={"environment": "staging", "outcome": "success", "namespace": "svc", "revision": 4},
        ),
    ]
    report = Report(
        "ci",
        "failed",
        0.0,
        3.2,
        GIT,
        stages,
        artifacts,
        exit_code=1,
        ci_url="https://github.example/acme/svc/actions/runs/9",
    )
    for key, value in extra.items():
        setattr(report, key, value)
    return report


FINDINGS = {
    "lint": [
        Finding("staticcheck", "SA4006", "value never used", file="svc/x.go", line=4, level="warning"),
        Finding(
            "gofmt", "gofmt", "file is not gofmt-ed | <img src=x> `tick`", file="svc/calc/a,b:c%d.go", line=3
        ),
    ],
    "test": [
        Finding(
            "go test",
            "test",
            "Add(1, 2) = 3\nwant 4\n```\nbreak out?\n" + "\n".join(f"more {i}" for i in range(10)),
            file="svc/calc/calc_test.go",
            line=12,
            title="TestAdd failed (example.com/svc/calc)",
        )
    ],
}


def test_step_summary_has_the_essentials() -> None:
    text = step_summary(_report(), FINDINGS, GITHUB, Redactor())
    blob = "https://github.example/acme/svc/blob/" + GIT.sha
    assert text.startswith("### ❌ gopipe ci: failed\n")
    assert "| coverage | ✔ success (cached) | — | coverage 61.5% |" in text
    assert "| lint | ✘ failed | 0.7s | gofmt: 1 finding |" in text
    # failing tests first, with their first lines in a fence nothing can close
    assert text.index("#### Test failures (1)") < text.index("#### Lint findings (2)")
    assert (
        "- **TestAdd failed (example.com/svc/calc)** at "
        f"[svc/calc/calc\\_test.go:12]({blob}/svc/calc/calc_test.go#L12)" in text
    )
    assert (
        "  ````text\n  Add(1, 2) = 3\n  want 4\n  ```\n  break out?\n"
        "  more 0\n  more 1\n  … 8 more lines\n  ````" in text
    )
    # lint: errors before warnings, linked, escaped
    gofmt_row = (
        f"| error | [svc/calc/a,b:c%d.go:3]({blob}/svc/calc/a%2Cb%3Ac%25d.go#L3) | gofmt | "
        "file is not gofmt-ed \\| \\<img src=x\\> \\`tick\\` |"
    )
    assert gofmt_row in text
    assert text.index(gofmt_row) < text.index("| warning | [svc/x.go:4]")
    # coverage: the total and the ten lowest packages, lowest first
    assert "#### Coverage: 61.5% (8/13 statements)" in text
    assert "| **total** | **61.5%** |\n| example.com/svc/p13 | 87.0% |" in text
    assert "example.com/svc/p04" in text and "example.com/svc/p03" not in text
    assert "14 packages; all of them are in coverage.md." in text
    assert "| svc | registry.test/acme/svc@sha256:" + "ab" * 32 + " | 1.2.3 |" in text
    assert "| staging | success | svc | 4 |  |" in text
    assert text.rstrip().endswith(
        "[Artifacts of this run](https://github.example/acme/svc/actions/runs/9#artifacts): "
        "reports, logs, coverage."
    )


def test_step_summary_without_github_names_files_plainly() -> None:
    text = step_summary(_report(ci_url=None), FINDINGS, {}, Redactor())
    assert "| error | svc/calc/a,b:c%d.go:3 | gofmt |" in text
    assert "](" not in text.replace("](https://", "")  # no links at all
    assert "Artifacts of this run" not in text


def test_step_summary_masks_before_it_cuts() -> None:
    redactor = Redactor()
    secret = "Zr8" + "q" * 400 + "X2w"  # longer than a cell: a cut first would leave a prefix
    redactor.add(secret)
    findings = {"lint": [Finding("t", "r", f"leak {secret}", file="a.go", line=1)]}
    text = step_summary(_report(), findings, GITHUB, redactor)
    assert "Zr8" not in text and "qqqq" not in text and "leak \\*\\*\\*" in text


def test_step_summary_stays_within_1_mib(tmp_path: Path) -> None:
    many = {
        "lint": [Finding("vet", "printf", "x" * 5000, file=f"svc/f{i}.go", line=i) for i in range(5000)],
        "test": [
            Finding("go test", "test", "y" * 400 + "\n" + "z\n" * 100, file="t.go", line=i)
            for i in range(300)
        ],
    }
    small = step_summary(_report(), many, GITHUB, Redactor(), budget=6000)
    assert len(small.encode()) <= 6000
    assert "not shown: the step summary is limited to 1 MiB" in small
    console, _ = _console(tmp_path)
    summary = tmp_path / "summary.md"
    summary.write_text("e" * (LIMIT - 3000))  # an earlier step of the job wrote most of it
    console.write_step_summary(_report(), many)
    assert LIMIT - 3000 < summary.stat().st_size <= LIMIT
    assert "### ❌ gopipe ci: failed" in summary.read_text()


def test_finish_writes_held_annotations_and_the_summary(tmp_path: Path) -> None:
    console, stream = _console(tmp_path)
    console.annotate(Finding("x", "y", "never finished", file="a.go"), "deploy")
    console.finish(_report(), FINDINGS)
    (command,) = parse_log(stream.getvalue()).commands
    assert command.message == "never finished"
    assert "#### Lint findings (2)" in (tmp_path / "summary.md").read_text()


def test_findings_name_files_from_the_top_of_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    module = repo / "svc"
    (module / "calc").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    assert relative("calc/a,b:c%d.go", module) == "svc/calc/a,b:c%d.go"
    assert relative("./calc/x.go", module) == "svc/calc/x.go"
    assert relative(str(module / "calc" / "x.go"), module) == "svc/calc/x.go"
    assert relative(str(repo / "lib" / "y.go"), module) == "lib/y.go"  # a replace directive's module
    assert relative("/usr/local/go/src/fmt/print.go", module) == "/usr/local/go/src/fmt/print.go"
    plain = tmp_path / "nogit" / "mod"
    plain.mkdir(parents=True)
    assert relative("calc/x.go", plain) == "calc/x.go"
