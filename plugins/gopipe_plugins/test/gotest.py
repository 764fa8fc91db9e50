"""``go test -json -race -covermode=atomic -coverprofile``: live progress, JUnit XML,
failed tests with their output, and the coverage profile for the coverage stage."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

from gopipe import hookimpl
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.stages import Stage
from gopipe.types import Merger, Tester
from gopipe_plugins._common.repo_paths import repository_root
from gopipe_plugins.test.failures import conclude
from gopipe_plugins.test.junit import junit_xml as junit_xml  # re-exported: the JUnit writer
from gopipe_plugins.test.merge import fold_junit, fold_profiles, fold_test_streams
from gopipe_plugins.test.positions import TestPositions
from gopipe_plugins.test.shards import fold_shards

PROFILE = "coverage.out"
STREAM = "test.json"  # the go test -json stream, masked


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
    started: str = ""  # the Time of its first event (RFC 3339), for the suite's timestamp
    ended: str = ""


# Which output an unfinished line belongs to: ("test", package, test), ("package", package, "")
# or ("build", import path, "").
_StreamKey = tuple[str, str, str]


class TestEvents:
    """Folds ``go test -json`` events into packages and tests.

    Go splits a long output line into several ``output`` events (1 KiB each), so chunks are
    joined back into lines, and each whole line is masked by ``redact`` as it is stored:
    a secret printed across a chunk boundary is still one secret, and every later cut
    (JUnit messages, failure details) works on masked text.

    With ``raw``, the stream itself is kept there (``test.json``) for tools that read
    ``go test -json`` (gotestsum, tparse, go-junit-report), masked the same way: the chunks
    of one line become one ``output`` event carrying the masked line, every other string
    field is masked on its own, and each event is written again as JSON (a secret escaped by
    JSON would slip past a mask applied to the encoded text).
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, redact: Callable[[str], str] = str, raw: TextIO | None = None) -> None:
        self.packages: dict[str, _Package] = {}
        self.stray: list[str] = []
        self._redact = redact
        self._raw = raw
        self._pending: dict[_StreamKey, dict[str, Any]] = {}  # the event an unfinished line began in
        self._lock = threading.Lock()

    def _lines(self, sink: list[str], partial: str, ev: dict[str, Any], key: _StreamKey) -> str:
        """Append the complete lines of ``partial`` + the event's output to ``sink``; return the rest."""
        *complete, rest = (partial + _text(ev)).split("\n")
        masked = [self._redact(line) for line in complete]
        sink.extend(masked)
        if self._raw is not None:
            first = self._pending.pop(key, None) or ev
            for line in masked:  # one event per line, as go test writes them
                self._write(first, line + "\n")
                first = ev  # later lines, and the rest, began in this chunk
            if rest:
                self._pending[key] = first
        return rest

    def _flush(self, sink: list[str], partial: str, key: _StreamKey) -> str:
        if partial:
            masked = self._redact(partial)
            sink.append(masked)
            first = self._pending.pop(key, None)
            if first is not None:
                self._write(first, masked)
        return ""

    def _write(self, ev: dict[str, Any], output: str | None = None) -> None:
        """One event into ``raw``: its strings masked, ``output`` (already masked) as Output."""
        if self._raw is None:
            return
        masked = {k: self._redact(v) if isinstance(v, str) and k != "Output" else v for k, v in ev.items()}
        if output is not None:
            masked["Output"] = output
        self._raw.write(json.dumps(masked, ensure_ascii=False, separators=(",", ":")) + "\n")

    def _stray(self, line: str) -> None:
        masked = self._redact(line.rstrip("\n"))
        self.stray.append(masked)
        if self._raw is not None:
            self._raw.write(masked + "\n")

    def finish(self) -> None:
        """Store lines left without a final newline (output cut off by a crash or timeout)."""
        with self._lock:
            for pkg in self.packages.values():
                pkg.partial = self._flush(pkg.output, pkg.partial, ("package", pkg.name, ""))
                pkg.build_partial = self._flush(pkg.build_output, pkg.build_partial, ("build", pkg.name, ""))
                for test in pkg.tests.values():
                    test.partial = self._flush(test.output, test.partial, ("test", pkg.name, test.name))
            if self._raw is not None:
                self._raw.flush()

    def feed(self, line: str) -> bool:
        """Consume one line; True when a package finished (progress changed)."""
        if not line.startswith("{"):
            with self._lock:
                self._stray(line)
            return False
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            with self._lock:
                self._stray(line)
            return False
        if not isinstance(ev, dict):
            with self._lock:
                self._stray(line)
            return False
        action = ev.get("Action")
        with self._lock:
            if action in ("build-output", "build-fail"):
                name = str(ev.get("ImportPath", "")).split(" ", 1)[0]
                pkg = self.packages.setdefault(name, _Package(name))
                if action == "build-output":
                    key: _StreamKey = ("build", name, "")
                    pkg.build_partial = self._lines(pkg.build_output, pkg.build_partial, ev, key)
                else:
                    self._write(ev)
                return False
            name = ev.get("Package", "")
            pkg = self.packages.setdefault(name, _Package(name))
            when = str(ev.get("Time") or "")
            pkg.started, pkg.ended = pkg.started or when, when or pkg.ended
            test_name = ev.get("Test")
            if test_name:
                test = pkg.tests.setdefault(test_name, _Test(name, test_name))
                if action == "output":
                    test.partial = self._lines(test.output, test.partial, ev, ("test", name, test_name))
                    return False
                if action in ("pass", "fail", "skip"):
                    test.partial = self._flush(test.output, test.partial, ("test", name, test_name))
                    test.status, test.elapsed = action, float(ev.get("Elapsed", 0.0))
                self._write(ev)
                return False
            if action == "output":
                pkg.partial = self._lines(pkg.output, pkg.partial, ev, ("package", name, ""))
                return False
            if action in ("pass", "fail", "skip"):
                pkg.partial = self._flush(pkg.output, pkg.partial, ("package", name, ""))
                pkg.status, pkg.elapsed = action, float(ev.get("Elapsed", 0.0))
                self._write(ev)
                return True
            self._write(ev)
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
    stream = (ctx.out / STREAM).open("w", encoding="utf-8")
    events = TestEvents(ctx.redact, raw=stream)

    def on_line(line: str) -> None:
        if events.feed(line):
            tests = events.tests()
            failed = sum(t.status == "fail" for t in tests)
            ctx.progress(
                f"{events.done()}/{total} packages · {len(tests)} tests"
                + (f" · {failed} failed" if failed else "")
            )

    env = {"CGO_ENABLED": "1"} if opts.race else {}
    try:
        res = ctx.sh(args, env=env, on_stdout=on_line)
        events.finish()
    finally:
        stream.close()
    _record_timings(ctx, events)
    _write_reports(ctx, events)
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
    """Write an empty JUnit file and stream so the shard still merges like any other."""
    (ctx.out / STREAM).write_text("", encoding="utf-8")
    _write_reports(ctx, TestEvents())
    ctx.summary = "empty shard: no packages"


def _write_reports(ctx: ProviderContext[GoTestOptions], events: TestEvents) -> None:
    """``junit.xml`` from the events, and both it and ``test.json`` (written as the events
    came) recorded as artifacts."""
    positions = TestPositions(
        {p.import_path: p.dir for p in ctx.go.packages()} if events.packages else {},
        ctx.root,
        repository_root(ctx.root),
    )
    junit = ctx.out / "junit.xml"
    junit.write_text(ctx.redact(junit_xml(events, locate=positions)), encoding="utf-8")
    ctx.add_artifact("junit", "junit.xml", junit)
    ctx.add_artifact("test-json", STREAM, ctx.out / STREAM)


def _record_timings(ctx: ProviderContext[GoTestOptions], events: TestEvents) -> None:
    """Package durations of this run, for balancing future shards."""
    from gopipe_plugins.test.shards import record_timings

    record_timings(
        ctx, {p.name: p.elapsed for p in events.packages.values() if p.name and p.status in ("pass", "fail")}
    )


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
        Merger(kind="test-json", stage=Stage.TEST, merge=fold_test_streams),
        Merger(kind="coverage-profile", stage=Stage.TEST, merge=fold_profiles),
        Merger(kind="test-shard", stage=Stage.TEST, merge=fold_shards),
    ]
