"""``go test -json -race -covermode=atomic -coverprofile``: live progress, JUnit XML,
failed tests with their output, and the coverage profile for the coverage stage."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal
from xml.etree import ElementTree as ET

from gopipe import hookimpl
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.stages import Stage
from gopipe.types import Merger, Tester
from gopipe_plugins.test.failures import conclude
from gopipe_plugins.test.merge import fold_junit, fold_profiles
from gopipe_plugins.test.shards import fold_shards

PROFILE = "coverage.out"
_TEST_LINE = re.compile(r"^\s+(?P<file>[\w./-]+\.go):(?P<line>\d+): ")


@dataclass(frozen=True)
class GoTestOptions:
    """go test settings. Race detection needs cgo, so it is enabled for tests only."""

    packages: tuple[str, ...] = doc("package patterns", ("./...",))
    race: bool = doc("run with -race (needs a C compiler)", True)
    covermode: Literal["set", "count", "atomic"] = doc("go test -covermode", "atomic")
    coverpkg: str = doc("-coverpkg value; empty = each package covers itself", "")
    flags: tuple[str, ...] = doc("extra go test flags, e.g. ['-count=1', '-shuffle=on']", ())
    timeout: str = doc("go test -timeout", "10m")


@dataclass
class _Test:
    package: str
    name: str
    status: str = "run"
    elapsed: float = 0.0
    output: list[str] = field(default_factory=list)
    partial: str = ""  # the start of a line whose end is still to come


@dataclass
class _Package:
    name: str
    status: str = "run"
    elapsed: float = 0.0
    output: list[str] = field(default_factory=list)
    build_output: list[str] = field(default_factory=list)
    tests: dict[str, _Test] = field(default_factory=dict)
    partial: str = ""
    build_partial: str = ""


class TestEvents:
    """Folds ``go test -json`` events into packages and tests.

    Go splits a long output line into several ``output`` events (1 KiB each), so chunks are
    joined back into lines, and each whole line is masked by ``redact`` as it is stored:
    a secret printed across a chunk boundary is still one secret, and every later cut
    (JUnit messages, failure details) works on masked text.
    """

    def __init__(self, redact: Callable[[str], str] = str) -> None:
        self.packages: dict[str, _Package] = {}
        self.stray: list[str] = []
        self._redact = redact
        self._lock = threading.Lock()

    def _lines(self, sink: list[str], partial: str, chunk: str) -> str:
        """Append the complete lines of ``partial + chunk`` to ``sink``; return the rest."""
        *complete, rest = (partial + chunk).split("\n")
        sink.extend(self._redact(line) for line in complete)
        return rest

    def _flush(self, sink: list[str], partial: str) -> str:
        if partial:
            sink.append(self._redact(partial))
        return ""

    def finish(self) -> None:
        """Store lines left without a final newline (output cut off by a crash or timeout)."""
        with self._lock:
            for pkg in self.packages.values():
                pkg.partial = self._flush(pkg.output, pkg.partial)
                pkg.build_partial = self._flush(pkg.build_output, pkg.build_partial)
                for test in pkg.tests.values():
                    test.partial = self._flush(test.output, test.partial)

    def feed(self, line: str) -> bool:
        """Consume one line; True when a package finished (progress changed)."""
        if not line.startswith("{"):
            self.stray.append(self._redact(line.rstrip("\n")))
            return False
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            self.stray.append(self._redact(line.rstrip("\n")))
            return False
        action = ev.get("Action")
        with self._lock:
            if action in ("build-output", "build-fail"):
                name = str(ev.get("ImportPath", "")).split(" ", 1)[0]
                pkg = self.packages.setdefault(name, _Package(name))
                if action == "build-output":
                    pkg.build_partial = self._lines(pkg.build_output, pkg.build_partial, _text(ev))
                return False
            name = ev.get("Package", "")
            pkg = self.packages.setdefault(name, _Package(name))
            test_name = ev.get("Test")
            if test_name:
                test = pkg.tests.setdefault(test_name, _Test(name, test_name))
                if action == "output":
                    test.partial = self._lines(test.output, test.partial, _text(ev))
                elif action in ("pass", "fail", "skip"):
                    test.partial = self._flush(test.output, test.partial)
                    test.status, test.elapsed = action, float(ev.get("Elapsed", 0.0))
                return False
            if action == "output":
                pkg.partial = self._lines(pkg.output, pkg.partial, _text(ev))
            elif action in ("pass", "fail", "skip"):
                pkg.partial = self._flush(pkg.output, pkg.partial)
                pkg.status, pkg.elapsed = action, float(ev.get("Elapsed", 0.0))
                return True
        return False

    def done(self) -> int:
        return sum(p.status != "run" for p in self.packages.values())

    def tests(self) -> list[_Test]:
        return [t for p in self.packages.values() for t in p.tests.values()]


def run(ctx: ProviderContext[GoTestOptions]) -> None:
    opts = ctx.options
    go = ctx.go.require(ctx.config.display_file)
    profile = ctx.out / PROFILE
    profile.unlink(missing_ok=True)
    packages = _packages(ctx)
    if packages == []:  # an empty shard (more shards than packages): nothing to run
        _empty_shard(ctx)
        return
    total = len(packages) if packages is not None else len(ctx.go.packages())
    args = [
        go,
        "test",
        "-json",
        f"-covermode={opts.covermode}",
        f"-coverprofile={profile}",
        f"-timeout={opts.timeout}",
    ]
    if opts.race:
        args.append("-race")
    if opts.coverpkg:
        args.append(f"-coverpkg={opts.coverpkg}")
    flags, patterns = split_go_args(ctx.args.go_args)
    if patterns and packages is None:
        packages = patterns
    args += [*opts.flags, *flags, *(packages if packages is not None else opts.packages)]
    events = TestEvents(ctx.redact)

    def on_line(line: str) -> None:
        if events.feed(line):
            tests = events.tests()
            failed = sum(t.status == "fail" for t in tests)
            ctx.progress(
                f"{events.done()}/{total} packages · {len(tests)} tests"
                + (f" · {failed} failed" if failed else "")
            )

    env = {"CGO_ENABLED": "1"} if opts.race else {}
    res = ctx.sh(args, env=env, on_stdout=on_line)
    events.finish()
    _record_timings(ctx, events)
    junit = ctx.out / "junit.xml"
    junit.write_text(ctx.redact(junit_xml(events)), encoding="utf-8")
    ctx.add_artifact("junit", "junit.xml", junit)
    if profile.is_file():
        ctx.add_artifact("coverage-profile", PROFILE, profile, mode=opts.covermode)
    conclude(ctx, events, res, total)


def _text(event: dict[str, object]) -> str:
    output = event.get("Output", "")
    return output if isinstance(output, str) else ""


def split_go_args(go_args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split what followed ``--`` into ``go test`` flags and package patterns.

    ``gopipe run test -- -run TestAdd ./internal/...``: a pattern is ``.``, ``all``, or starts
    with ``./`` (packages inside the module); anything else, flag values included, is a flag.
    """
    flags: list[str] = []
    patterns: list[str] = []
    for arg in go_args:
        if arg in (".", "all") or arg.startswith("./"):
            patterns.append(arg)
        else:
            flags.append(arg)
    return flags, patterns


def _packages(ctx: ProviderContext[GoTestOptions]) -> list[str] | None:
    """The shard's packages when ``--shard I/N`` was given, else None (use the patterns)."""
    if ctx.args.shard is None:
        return None
    from gopipe_plugins.test.shards import select_shard

    return select_shard(ctx, ctx.args.shard)


# -- shards and timings (gopipe_plugins.test.shards; kept apart from the go test logic) ------
def _empty_shard(ctx: ProviderContext[GoTestOptions]) -> None:
    """Write an empty JUnit file so the shard still merges like any other."""
    junit = ctx.out / "junit.xml"
    junit.write_text(junit_xml(TestEvents()), encoding="utf-8")
    ctx.add_artifact("junit", "junit.xml", junit)
    ctx.summary = "empty shard: no packages"


def _record_timings(ctx: ProviderContext[GoTestOptions], events: TestEvents) -> None:
    """Package durations of this run, for balancing future shards."""
    from gopipe_plugins.test.shards import record_timings

    record_timings(
        ctx, {p.name: p.elapsed for p in events.packages.values() if p.name and p.status in ("pass", "fail")}
    )


def junit_xml(events: TestEvents) -> str:
    suites = ET.Element("testsuites")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for pkg in sorted(events.packages.values(), key=lambda p: p.name):
        if not pkg.name:
            continue
        tests = sorted(pkg.tests.values(), key=lambda t: t.name)
        build_error = bool(pkg.build_output) or (pkg.status == "fail" and not tests)
        counts = {
            "tests": len(tests) + build_error,
            "failures": sum(t.status == "fail" for t in tests),
            "errors": int(build_error),
            "skipped": sum(t.status == "skip" for t in tests),
        }
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=pkg.name,
            time=f"{pkg.elapsed:.3f}",
            attrib={k: str(v) for k, v in counts.items()},
        )
        for test in tests:
            case = ET.SubElement(
                suite, "testcase", classname=pkg.name, name=test.name, time=f"{test.elapsed:.3f}"
            )
            if test.status == "fail":
                message = next((ln.strip() for ln in test.output if _TEST_LINE.match(ln)), "failed")
                ET.SubElement(case, "failure", message=message[:500], type="failure").text = "\n".join(
                    test.output
                )
            elif test.status == "skip":
                ET.SubElement(case, "skipped", message="skipped")
            elif test.status == "run":
                ET.SubElement(case, "error", message="did not finish").text = "\n".join(test.output)
        if build_error:
            case = ET.SubElement(suite, "testcase", classname=pkg.name, name="[build]", time="0")
            ET.SubElement(case, "error", message="build failed", type="build").text = "\n".join(
                pkg.build_output + pkg.output
            )
        for key, value in counts.items():
            totals[key] += value
    for key, value in totals.items():
        suites.set(key, str(value))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


@hookimpl
def gopipe_testers() -> list[Tester[GoTestOptions]]:
    return [
        Tester(
            name="go",
            run=run,
            options=GoTestOptions,
            description="go test -json -race with coverage and JUnit XML",
        )
    ]


@hookimpl
def gopipe_mergers() -> list[Merger]:
    return [
        Merger(kind="junit", stage=Stage.TEST, merge=fold_junit),
        Merger(kind="coverage-profile", stage=Stage.TEST, merge=fold_profiles),
        Merger(kind="test-shard", stage=Stage.TEST, merge=fold_shards),
    ]
