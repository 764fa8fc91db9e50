"""What a ``go test`` run tells the reader: counts, skipped tests, and each failure.

A failing test becomes a block of the stage log (its whole output; the CI console shows
its last lines in a group of its own) and a finding located where it failed, whose
message is the failure's full text. A parent test that failed only because a subtest did
is left to the subtest. Kept apart from running ``go test`` and from its report files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from gopipe.artifacts import Finding
from gopipe.context import ProviderContext
from gopipe.proc import Completed
from gopipe_plugins._common.findings import POSITION, relative

if TYPE_CHECKING:
    from gopipe_plugins.test.gotest import TestEvents, _Package, _Test

# "    calc_test.go:12: message" from t.Error/t.Log; continuation lines are indented further.
_TEST_LINE = re.compile(r"^(?P<indent>\s+)(?P<file>[\w./-]+\.go):(?P<line>\d+): ")
# "\t/abs/path/calc_test.go:12 +0x1d" in a panic's or a race report's stack.
_FRAME = re.compile(r"^\s+(?P<file>/\S+\.go):(?P<line>\d+)")
_FRAMING = re.compile(r"^\s*(?:=== (?:RUN|PAUSE|CONT|NAME)\s|--- (?:FAIL|PASS|SKIP|BENCH): )")
_RACE = "WARNING: DATA RACE"
_MESSAGE_LINES = 60


def conclude(ctx: ProviderContext[object], events: TestEvents, res: Completed, total: int) -> None:
    """Summarise the run; on failure log each failing test, record findings and fail."""
    tests = events.tests()
    failed = [t for t in tests if t.status == "fail"]
    skipped = [t for t in tests if t.status == "skip"]
    passed = sum(t.status == "pass" for t in tests)
    ctx.summary = (
        f"{passed}/{len(tests)} tests passed"
        + (f", {len(failed)} failed" if failed else "")
        + (f", {len(skipped)} skipped" if skipped else "")
        + f" in {total} packages"
    )
    for test in skipped:
        reason = _skip_reason(test)
        ctx.log(f"--- SKIP: {test.name} ({test.package})" + (f": {reason}" if reason else ""))
    broken = [
        p
        for p in events.packages.values()
        if p.build_output or (p.status == "fail" and not any(t.status == "fail" for t in p.tests.values()))
    ]
    if res.cancelled:
        ctx.fail("go test was stopped")
    if not failed and not broken and res.returncode == 0:
        return
    leaves = [t for t in failed if not _failed_through_subtests(t, failed)]
    for t in leaves:
        ctx.log_block(f"FAIL {t.name} ({t.package}, {t.elapsed:.2f}s)", t.output)
    for p in broken:
        ctx.log_block(f"FAIL {p.name} (build or package failure)", p.build_output or p.output)
    findings = [test_finding(t, ctx) for t in leaves] + [build_finding(p, ctx) for p in broken]
    for f in findings:
        ctx.add_finding(f)
    details = []
    for t in leaves:
        details.append(f"--- FAIL: {t.name} ({t.package})")
        details.extend(t.output[-40:])
    for p in broken:
        details.append(f"--- FAIL: {p.name} (build or package failure)")
        details.extend((p.build_output or p.output)[-40:])
    if not findings:
        output = events.stray or ctx.redact(res.stderr).splitlines()
        if events.stray:
            ctx.log_block("go test output", events.stray)
        details.extend(output[-40:])
        ctx.fail(f"go test failed (exit {res.returncode})", details="\n".join(details))
    first = findings[0]
    race = any(_RACE in "\n".join(t.output) for t in leaves)
    what = (
        "data race detected"
        if race
        else (f"{len(leaves)} test{'s' * (len(leaves) != 1)} failed" if leaves else "package failed to build")
    )
    names = ", ".join(f"{t.name} ({t.package})" for t in leaves[:3]) or ", ".join(p.name for p in broken[:3])
    ctx.fail(
        f"{what}: {names}, first at {first.location()}",
        file=first.file,
        line=first.line,
        details="\n".join(details),
    )


def _failed_through_subtests(test: _Test, failed: list[_Test]) -> bool:
    """A parent whose own output holds no failure, only its failing subtests."""
    prefix = test.name + "/"
    if not any(t.package == test.package and t.name.startswith(prefix) for t in failed):
        return False
    return not any(_TEST_LINE.match(line) or line.startswith("panic: ") for line in test.output)


def _own(test: _Test) -> list[str]:
    """The test's output without go test's ``=== RUN`` / ``--- FAIL`` framing."""
    return [line for line in test.output if not _FRAMING.match(line)]


def _skip_reason(test: _Test) -> str:
    lines = [_TEST_LINE.sub("", line).strip() for line in _own(test)]
    return " ".join(line for line in lines if line)


def test_finding(test: _Test, ctx: ProviderContext[object]) -> Finding:
    """Where and why ``test`` failed: a race report, a panic, else its last ``file:line:``
    message (t.Log and t.Error look alike; the failure usually comes last), with the
    message's continuation lines."""
    own = _own(test)
    pkg_dir = _package_dir(test.package, ctx)
    text = "\n".join(own)
    if _RACE in text:
        return _at_frame(test, own, ctx, pkg_dir, "race", f"data race in {test.name}", _race_report(own))
    panic = next((i for i, line in enumerate(own) if line.startswith("panic: ")), None)
    if panic is not None:
        message = "\n".join(_until_blank(own[panic:]))
        return _at_frame(test, own, ctx, pkg_dir, "test", f"{test.name} panicked ({test.package})", message)
    for i in reversed(range(len(own))):
        m = _TEST_LINE.match(own[i])
        if m and pkg_dir is not None and (pkg_dir / m["file"]).is_file():
            return Finding(
                "go test",
                "test",
                _message(own, i, m),
                file=relative(str(pkg_dir / m["file"]), ctx.root),
                line=int(m["line"]),
                title=f"{test.name} failed ({test.package})",
            )
    fallback = "\n".join(own[-_MESSAGE_LINES:]).strip() or f"{test.name} failed in {test.package}"
    return _at_frame(test, own, ctx, pkg_dir, "test", f"{test.name} failed ({test.package})", fallback)


def _message(own: list[str], i: int, m: re.Match[str]) -> str:
    """The message at ``own[i]`` and the lines Go indented under it (a multi-line t.Error)."""
    deeper = m["indent"] + "    "
    lines = [own[i][m.end() :]]
    for line in own[i + 1 :]:
        if not line.startswith(deeper) or _TEST_LINE.match(line):
            break
        lines.append(line[len(deeper) :])
    return "\n".join(lines[:_MESSAGE_LINES])


def _at_frame(
    test: _Test,
    own: list[str],
    ctx: ProviderContext[object],
    pkg_dir: Path | None,
    rule: str,
    title: str,
    message: str,
) -> Finding:
    """A finding at the first stack frame inside the module, else at the package."""
    for line in own:
        m = _FRAME.match(line)
        if m and Path(m["file"]).resolve().is_relative_to(ctx.root):
            return Finding(
                "go test",
                rule,
                message,
                file=relative(m["file"], ctx.root),
                line=int(m["line"]),
                title=title,
            )
    return Finding(
        "go test",
        rule,
        message,
        file=relative(str(pkg_dir), ctx.root) if pkg_dir else None,
        title=title,
    )


def _race_report(own: list[str]) -> str:
    start = next(i for i, line in enumerate(own) if _RACE in line)
    body: list[str] = []
    for line in own[start:]:
        if line.startswith("==================") and body:
            break
        body.append(line)
    return "\n".join(body[:_MESSAGE_LINES])


def _until_blank(lines: list[str]) -> list[str]:
    out = []
    for line in lines[:_MESSAGE_LINES]:
        if not line.strip():
            break
        out.append(line)
    return out


def build_finding(pkg: _Package, ctx: ProviderContext[object]) -> Finding:
    """A package that did not build (or failed outside any test), at the compiler's position."""
    for line in pkg.build_output + pkg.output:
        m = POSITION.match(line.strip())
        if m:
            file = m["file"]
            if not file.startswith("/"):
                file = str(ctx.root / file)
            return Finding(
                "go test",
                "build",
                m["msg"],
                file=relative(file, ctx.root),
                line=int(m["line"]),
                col=int(m["col"]) if m["col"] else None,
                title=f"{pkg.name} does not build",
            )
    return Finding("go test", "build", f"{pkg.name} failed: " + " ".join(pkg.output[-3:]).strip())


def _package_dir(import_path: str, ctx: ProviderContext[object]) -> Path | None:
    return next((p.dir for p in ctx.go.packages() if p.import_path == import_path), None)
