"""``gopipe merge DIR...``: fold the outputs of fanned-out jobs into one run.

Each input is what one job produced (its ``dist/gopipe``, or its whole ``dist`` for build
jobs, or a directory holding several of those, as ``download-artifact`` lays them out).
The merge writes one ``dist/gopipe`` as if a single runner had done all the work:

- JUnit XML: every test suite of every part, totals recomputed;
- coverage profiles: one profile, blocks merged per mode (``atomic``/``count`` summed,
  ``set`` max), so a package covered by tests in two shards counts both;
- lint SARIF: the runs of every part, one run per tool;
- build artifacts: binaries copied back under ``dist/`` and checked against their sha256;
- reports: each part's report and logs under ``dist/gopipe/parts/<label>/``, and a merged
  ``report.json`` whose stages combine the parts' stages (worst status wins);
- test timings: the recorded ones plus every shard's measurements.

Then the coverage stage runs on the merged profile with the repository's own coverage
config (threshold, Cobertura …) and notify runs with the merged report, exactly as the
unsharded ``ci`` pipeline would. Shards that computed different splits, a missing shard,
or a package tested twice fail the merged test stage rather than passing silently.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from gopipe.artifacts import Artifact, sha256_file
from gopipe.config import Config, load_config
from gopipe.console import make_console
from gopipe.context import RunArgs, RunContext
from gopipe.errors import ConfigError
from gopipe.events import EventLog
from gopipe.git import UNKNOWN, GitInfo, read_git_info
from gopipe.gotools import GoToolchain
from gopipe.manager import create_manager, disabled_from_env
from gopipe.plan import Plan
from gopipe.registry import ProviderRegistry, SelectedProvider
from gopipe.report import ProviderResult, Report, RunStatus, StageResult, StageStatus, ci_run_url
from gopipe.runner import Runner
from gopipe.session import new_redactor
from gopipe.stages import PIPELINES, Stage

# Files the merge rebuilds from the parts instead of copying them.
REBUILT_KINDS = frozenset({"junit", "coverage-profile", "sarif", "test-shard"})
_SEVERITY: dict[str, int] = {"failed": 3, "cancelled": 2, "success": 1, "skipped": 0}


@dataclass
class Part:
    """One job's output: ``out`` is its ``dist/gopipe``; ``dist`` its ``dist`` if uploaded."""

    label: str
    out: Path
    dist: Path | None
    report: dict[str, Any]

    @property
    def artifacts(self) -> list[dict[str, Any]]:
        return list(self.report.get("artifacts") or [])

    def stage(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.report.get("stages") or [] if s.get("name") == name), None)


@dataclass
class Merged:
    """What the parts add up to, before the coverage stage runs."""

    stages: list[StageResult]
    artifacts: list[Artifact]
    problems: dict[str, list[str]] = field(default_factory=dict)  # stage -> why it failed

    def problem(self, stage: str, text: str) -> None:
        self.problems.setdefault(stage, []).append(text)


def find_parts(inputs: Sequence[Path], config: Config) -> list[Part]:
    """Resolve the command-line directories into parts, in a stable order."""
    out_in_dist = config.out.relative_to(config.dist)
    parts: list[Part] = []

    def part_at(d: Path) -> Part | None:
        if (d / "report.json").is_file():
            return Part(d.name, d, None, _read_report(d / "report.json"))
        if (d / out_in_dist / "report.json").is_file():
            return Part(d.name, d / out_in_dist, d, _read_report(d / out_in_dist / "report.json"))
        return None

    for given in inputs:
        d = given.resolve()
        if not d.is_dir():
            raise ConfigError(
                "command line",
                "merge",
                f"{given} is not a directory",
                "pass the directories the jobs uploaded (dist/gopipe or dist)",
            )
        if d == config.out.resolve() or config.out.resolve() in d.parents:
            raise ConfigError(
                "command line",
                "merge",
                f"{given} is inside {config.out}, which the merge writes",
                "download the parts elsewhere, e.g. parts/",
            )
        found = part_at(d)
        children = (
            [] if found else [p for c in sorted(d.iterdir()) if c.is_dir() and (p := part_at(c)) is not None]
        )
        if found:
            parts.append(found)
        elif children:
            parts.extend(children)
        else:
            raise ConfigError(
                "command line",
                "merge",
                f"no gopipe report.json in {given} or its subdirectories",
                "pass each job's dist/gopipe (or dist)",
            )
    seen: dict[str, int] = {}
    for part in parts:  # unique labels, e.g. two inputs both named "gopipe"
        n = seen.get(part.label, 0)
        seen[part.label] = n + 1
        if n:
            part.label = f"{part.label}-{n + 1}"
    return parts


def _read_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(str(path), "", f"unreadable report: {exc}", "re-run the job") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), "", "not a gopipe report", "re-run the job")
    return data


def _git_of(parts: Sequence[Part]) -> GitInfo:
    """The commit every part ran on; parts of different commits cannot be merged."""
    shas = {p.label: str((p.report.get("git") or {}).get("sha", "none")) for p in parts}
    known = {s for s in shas.values() if s != "none"}
    if len(known) > 1:
        listing = ", ".join(f"{label}={sha[:12]}" for label, sha in shas.items())
        raise ConfigError(
            "command line",
            "merge",
            f"the parts ran on different commits: {listing}",
            "merge only the outputs of one workflow run",
        )
    for part in parts:
        data = part.report.get("git") or {}
        if data.get("sha") in known:
            names = {f.name for f in dataclasses.fields(GitInfo)}
            return GitInfo(**{k: v for k, v in data.items() if k in names})
    return UNKNOWN


# -- file merges --------------------------------------------------------------------------
def merge_junit(files: Iterable[Path]) -> tuple[str, dict[str, int]]:
    """One ``<testsuites>`` holding every suite; returns the XML and its totals."""
    root = ET.Element("testsuites")
    suites: list[ET.Element] = []
    for path in files:
        tree = ET.parse(path).getroot()
        suites.extend(tree.iter("testsuite"))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in sorted(suites, key=lambda s: s.get("name", "")):
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0") or 0)
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n", totals


def merge_sarif(files: Iterable[Path]) -> dict[str, Any]:
    """One SARIF log with one run per tool: the results of that tool in every part."""
    runs: dict[str, dict[str, Any]] = {}
    schema = "https://json.schemastore.org/sarif-2.1.0.json"
    for path in files:
        log = json.loads(path.read_text(encoding="utf-8"))
        schema = log.get("$schema", schema)
        for run in log.get("runs") or []:
            name = str(run.get("tool", {}).get("driver", {}).get("name", "unknown"))
            into = runs.setdefault(name, {"tool": {"driver": {"name": name, "rules": []}}, "results": []})
            rules = into["tool"]["driver"]["rules"]
            for rule in run.get("tool", {}).get("driver", {}).get("rules") or []:
                if not any(r.get("id") == rule.get("id") for r in rules):
                    rules.append(rule)
            for result in run.get("results") or []:
                if result not in into["results"]:
                    into["results"].append(result)
    return {"$schema": schema, "version": "2.1.0", "runs": [runs[k] for k in sorted(runs)]}


# -- stages -------------------------------------------------------------------------------
def _worst(statuses: Iterable[str]) -> StageStatus:
    ranked = sorted(statuses, key=lambda s: _SEVERITY.get(s, 3), reverse=True)
    top = ranked[0] if ranked else "skipped"
    return top if top in _SEVERITY else "failed"  # type: ignore[return-value]


def _merge_stage(name: str, entries: list[tuple[str, dict[str, Any]]]) -> StageResult:
    """Combine one stage's results from several parts; worst status, longest duration."""
    labelled = len(entries) > 1
    providers: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for label, stage in entries:
        for p in stage.get("providers") or []:
            providers.setdefault(str(p.get("name")), []).append((label, p))
    merged_providers = []
    for pname, runs in providers.items():
        failed = [(label, p) for label, p in runs if p.get("status") == "failed"]
        errors = [
            f"{label}: {p['error']}" if labelled else str(p["error"]) for label, p in runs if p.get("error")
        ]
        first = failed[0][1] if failed else {}
        merged_providers.append(
            ProviderResult(
                name=pname,
                status=_worst(str(p.get("status")) for _, p in runs),
                duration_s=max(float(p.get("duration_s", 0.0)) for _, p in runs),
                error="; ".join(errors) or None,
                details="\n".join(str(p.get("details", "")) for _, p in failed if p.get("details")),
                file=first.get("file"),
                line=first.get("line"),
            )
        )
    errors = [
        f"{label}: {s['error']}" if labelled else str(s["error"])
        for label, s in entries
        if s.get("error") and s.get("status") != "success"
    ]
    summaries = list(dict.fromkeys(str(s.get("summary")) for _, s in entries if s.get("summary")))
    return StageResult(
        name=name,
        status=_worst(str(s.get("status")) for _, s in entries),
        duration_s=max(float(s.get("duration_s", 0.0)) for _, s in entries),
        providers=merged_providers,
        error="; ".join(errors) or None,
        summary="; ".join(summaries),
    )


class _Merger:
    """Collects the parts' artifacts into the merged ``dist`` and checks the shards."""

    def __init__(self, parts: list[Part], config: Config) -> None:
        self.parts = parts
        self.config = config
        self.root = config.root
        self.out = config.out
        self.out_rel = Path(os.path.relpath(config.out, config.root))
        self.dist_rel = Path(os.path.relpath(config.dist, config.root))

    def run(self) -> Merged:
        parts_dir = self.out / "parts"
        if parts_dir.exists():
            shutil.rmtree(parts_dir)
        stage_entries: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for part in self.parts:
            self._keep_part_report(part, parts_dir / part.label)
            for stage in part.report.get("stages") or []:
                name = str(stage.get("name"))
                if name not in (Stage.COVERAGE.value, Stage.NOTIFY.value):  # re-run below
                    stage_entries.setdefault(name, []).append((part.label, stage))
        order = [s.value for s in Stage]
        stages = [
            _merge_stage(name, stage_entries[name])
            for name in sorted(stage_entries, key=lambda n: order.index(n) if n in order else 99)
        ]
        merged = Merged(stages=stages, artifacts=[])
        self._copy_artifacts(merged)
        self._merge_tests(merged)
        self._merge_coverage(merged)
        self._merge_sarif(merged)
        self._merge_timings()
        self._summaries(merged)
        for stage in merged.stages:
            problems = merged.problems.get(stage.name)
            if problems:
                stage.status = "failed"
                stage.error = "; ".join(filter(None, [stage.error, *problems]))
        return merged

    def _keep_part_report(self, part: Part, into: Path) -> None:
        into.mkdir(parents=True, exist_ok=True)
        for name in ("report.json", "events.jsonl"):
            if (part.out / name).is_file():
                shutil.copy2(part.out / name, into / name)
        if (part.out / "logs").is_dir():
            shutil.copytree(part.out / "logs", into / "logs", dirs_exist_ok=True)

    def _source(self, part: Part, rel: str) -> Path | None:
        """Where an artifact path (relative to the repository) lies inside the part."""
        path = Path(rel)
        if path.is_absolute():
            return None
        if path.is_relative_to(self.out_rel):
            return part.out / path.relative_to(self.out_rel)
        if part.dist is not None and path.is_relative_to(self.dist_rel):
            return part.dist / path.relative_to(self.dist_rel)
        return None

    def part_files(self, kind: str) -> list[tuple[Part, dict[str, Any], Path]]:
        found = []
        for part in self.parts:
            for a in part.artifacts:
                if a.get("kind") == kind and a.get("path"):
                    src = self._source(part, str(a["path"]))
                    if src is not None and src.is_file():
                        found.append((part, a, src))
        return found

    def _copy_artifacts(self, merged: Merged) -> None:
        for part in self.parts:
            for a in part.artifacts:
                kind, rel = str(a.get("kind")), a.get("path")
                if kind in REBUILT_KINDS or a.get("stage") == Stage.COVERAGE.value:
                    continue
                artifact = _artifact(a)
                if rel and not Path(str(rel)).is_absolute():
                    src = self._source(part, str(rel))
                    dest = self.root / str(rel)
                    if src is None or not src.is_file():
                        merged.problem(
                            str(a.get("stage") or "build"),
                            f"{kind} {rel} is missing from part {part.label} "
                            "(upload the job's whole dist directory)",
                        )
                        continue
                    if a.get("sha256") and sha256_file(src) != a["sha256"]:
                        merged.problem(
                            str(a.get("stage") or "build"),
                            f"{kind} {rel} in part {part.label} does not match its sha256",
                        )
                        continue
                    if src.resolve() != dest.resolve():
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(src, dest)
                merged.artifacts.append(artifact)

    def _merge_tests(self, merged: Merged) -> None:
        files = self.part_files("junit")
        if files:
            try:
                text, totals = merge_junit(path for _, _, path in files)
            except ET.ParseError as exc:
                merged.problem("test", f"unreadable JUnit XML in a part: {exc}")
            else:
                junit = self.out / "junit.xml"
                junit.write_text(text, encoding="utf-8")
                merged.artifacts.append(self._own("junit", "junit.xml", junit, Stage.TEST, **totals))
        shards: dict[int, list[dict[str, Any]]] = {}
        for part in self.parts:
            for a in part.artifacts:
                if a.get("kind") == "test-shard":
                    extra = dict(a.get("extra") or {})
                    shards.setdefault(int(extra.get("count", 0)), []).append(extra)
                    merged.artifacts.append(_artifact(a))
        for count, found in sorted(shards.items()):
            splits = {str(e.get("split")) for e in found}
            if len(splits) > 1:
                merged.problem(
                    "test",
                    f"the {count} shards computed different splits (their "
                    "test-timings.json differed); give every shard the same file",
                )
            indexes = sorted(int(e.get("index", 0)) for e in found)
            missing = sorted(set(range(1, count + 1)) - set(indexes))
            if missing:
                merged.problem("test", "missing shard output: " + ", ".join(f"{i}/{count}" for i in missing))
            doubled = sorted({i for i in indexes if indexes.count(i) > 1})
            if doubled:
                merged.problem("test", "shard given twice: " + ", ".join(f"{i}/{count}" for i in doubled))
            packages = [p for e in found for p in e.get("packages") or []]
            twice = sorted({p for p in packages if packages.count(p) > 1})
            if twice and not doubled:
                merged.problem("test", f"packages tested by two shards: {', '.join(twice[:5])}")

    def _merge_coverage(self, merged: Merged) -> None:
        from gopipe_plugins._common.coverprofile import merge_profiles, parse_profile

        files = self.part_files("coverage-profile")
        if not files:
            return
        try:
            profile = merge_profiles(parse_profile(path.read_text()) for _, _, path in files)
        except ValueError as exc:
            merged.problem("test", f"cannot merge coverage profiles: {exc}")
            return
        out = self.out / "coverage.out"
        profile.write(out)
        merged.artifacts.append(
            self._own(
                "coverage-profile", "coverage.out", out, Stage.TEST, mode=profile.mode, parts=len(files)
            )
        )

    def _merge_sarif(self, merged: Merged) -> None:
        files = self.part_files("sarif")
        if not files:
            return
        try:
            log = merge_sarif(path for _, _, path in files)
        except ValueError as exc:
            merged.problem("lint", f"unreadable SARIF in a part: {exc}")
            return
        out = self.out / "lint.sarif"
        out.write_text(json.dumps(log, indent=2))
        merged.artifacts.append(self._own("sarif", "lint.sarif", out, Stage.LINT))

    def _merge_timings(self) -> None:
        from gopipe_plugins.test.shards import SHARD_TIMINGS, TIMINGS, read_timings, write_timings

        timings: dict[str, float] = {}
        for part in self.parts:
            timings.update(read_timings(part.out / TIMINGS))
        for part in self.parts:
            timings.update(read_timings(part.out / SHARD_TIMINGS))
        if timings:
            write_timings(self.out / TIMINGS, timings)

    def _summaries(self, merged: Merged) -> None:
        test = next((s for s in merged.stages if s.name == Stage.TEST.value), None)
        junit = next((a for a in merged.artifacts if a.kind == "junit"), None)
        if test is not None and junit is not None:
            tests = int(junit.extra.get("tests", 0))
            bad = sum(int(junit.extra.get(k, 0)) for k in ("failures", "errors", "skipped"))
            parts = sum(1 for p in self.parts if p.stage(Stage.TEST.value))
            test.summary = f"{tests - bad}/{tests} tests passed" + (
                f" across {parts} shards" if parts > 1 else ""
            )
        build = next((s for s in merged.stages if s.name == Stage.BUILD.value), None)
        binaries = [a for a in merged.artifacts if a.kind == "binary"]
        if build is not None and binaries:
            targets = {(a.os, a.arch) for a in binaries}
            build.summary = (
                f"{len(binaries)} binar{'y' if len(binaries) == 1 else 'ies'} for {len(targets)} targets"
            )

    def _own(self, kind: str, name: str, path: Path, stage: Stage, **extra: Any) -> Artifact:
        return Artifact(
            kind=kind,
            name=name,
            path=str(path.relative_to(self.root)),
            sha256=sha256_file(path),
            stage=stage.value,
            provider="merge",
            extra=extra,
        )


def _artifact(data: dict[str, Any]) -> Artifact:
    names = {f.name for f in dataclasses.fields(Artifact)}
    return Artifact(**{k: v for k, v in data.items() if k in names})


def _pipeline_name(stages: Iterable[str]) -> str:
    have = set(stages)
    for name, wanted in PIPELINES.items():
        if {s.value for s in wanted} <= have:
            return name
    return "+".join(s.value for s in Stage if s.value in have) or "merge"


# -- the command --------------------------------------------------------------------------
def merge_outputs(
    inputs: Sequence[Path],
    *,
    root: Path = Path("."),
    config_file: Path | None = None,
    plain: bool | None = None,
    notify: bool = True,
) -> int:
    """Merge ``inputs`` into ``ROOT/dist/gopipe``, run coverage and notify; the exit code."""
    environ = dict(os.environ)
    redactor = new_redactor(environ)
    console = make_console(redactor, plain=plain)
    t0 = time.monotonic()
    started = time.time()
    try:
        config = load_config(root.resolve(), config_file)
        parts = find_parts(inputs, config)
        git = _git_of(parts)
        pm = create_manager((*config.settings.disable_plugins, *disabled_from_env(environ)))
        registry = ProviderRegistry.collect(pm)
        selected: dict[Stage, list[SelectedProvider]] = {
            stage: registry.select(config, stage, redactor) for stage in (Stage.COVERAGE, Stage.NOTIFY)
        }
    except ConfigError as exc:
        console.error(str(exc))
        return exc.exit_code
    local = read_git_info(config.root, environ)
    if local.sha not in ("none", git.sha) and git.sha != "none":
        console.error(
            f"warning: the checkout is at {local.short_sha} but the parts ran on "
            f"{git.short_sha}; coverage paths may not match"
        )
    config.out.mkdir(parents=True, exist_ok=True)
    merged = _Merger(parts, config).run()

    events = EventLog(config.out / "events.jsonl", redactor, git.sha)
    run = RunContext(
        config=config,
        git=git,
        redactor=redactor,
        console=console,
        events=events,
        go=GoToolchain(config.root, {**environ, **config.settings.env}),
        pm=pm,
        args=RunArgs(pipeline="merge"),
        env={**environ, **config.settings.env},
    )
    for artifact in merged.artifacts:
        run.artifacts.add(artifact)
    names = [s.name for s in merged.stages]
    with_coverage = Stage.TEST.value in names
    shown = [*names, *([Stage.COVERAGE.value] if with_coverage else [])]
    pipeline = _pipeline_name(shown)
    console.start(f"{pipeline} (merged from {len(parts)} parts)", shown)
    events.emit("run_started", pipeline=pipeline, stages=shown, parts=[p.label for p in parts])
    for result in merged.stages:
        console.stage_finished(result, [])
    # The runner's per-stage machinery (logs, timeouts, observers) runs coverage and
    # notify; its DAG does not, because the other stages already ran on other runners.
    runner = Runner(run, Plan(pipeline, (Stage.COVERAGE,), {Stage.COVERAGE: ()}, notify=False), selected)
    stages = list(merged.stages)
    if with_coverage:
        test = next(s for s in stages if s.name == Stage.TEST.value)
        if test.status == "success":
            stages.append(runner.run_stage(Stage.COVERAGE))
        else:
            skipped = StageResult(
                name=Stage.COVERAGE.value, status="skipped", error=f"skipped: test {test.status}"
            )
            console.stage_finished(skipped, [])
            stages.append(skipped)
    status: RunStatus = "success"
    if any(s.status == "failed" for s in stages):
        status = "failed"
    elif any(s.status == "cancelled" for s in stages):
        status = "cancelled"
    report = Report(
        pipeline=pipeline,
        status=status,
        started_at=started,
        duration_s=0.0,
        git=git,
        stages=stages,
        artifacts=list(run.artifacts),
        exit_code={"success": 0, "failed": 1, "cancelled": 130}[status],
        ci_url=ci_run_url(environ),
    )
    if notify and selected.get(Stage.NOTIFY):
        run.report = report
        result = runner.run_stage(Stage.NOTIFY)
        report.stages.append(result)
        fail_on_error = bool(config.stage(Stage.NOTIFY).extra.get("fail_on_error", False))
        if result.status == "failed" and fail_on_error and report.status == "success":
            report.status, report.exit_code = "failed", 1
    report.duration_s = time.monotonic() - t0
    report.artifacts = list(run.artifacts)
    try:
        pm.hook.gopipe_run_finished(run=run, report=report)
    except Exception as exc:  # an observer's bug must not lose the report
        console.error(f"plugin hook gopipe_run_finished failed: {type(exc).__name__}: {exc}")
    report.write(config.out / "report.json", redactor)
    events.emit(
        "run_finished",
        pipeline=report.pipeline,
        status=report.status,
        duration_s=round(report.duration_s, 3),
        exit_code=report.exit_code,
    )
    events.close()
    console.finish(report)
    return report.exit_code
