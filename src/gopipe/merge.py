"""``gopipe merge DIR...``: fold the outputs of fanned-out jobs into one run.

Each input is what one job produced (its ``dist/gopipe``, or its whole ``dist`` for build
jobs, or a directory holding several of those, as ``download-artifact`` lays them out).
The merge writes one ``dist/gopipe`` as if a single runner had done all the work:

- each part's report and logs go under ``dist/gopipe/parts/<label>/``;
- each stage's results are folded into one (the worst status wins, see
  :func:`gopipe.report.worst`);
- each artifact kind is folded by the :class:`~gopipe.types.Merger` its producer registered
  (``gopipe_mergers``: JUnit suites, cover profiles, SARIF runs, test shards, binaries);
  kinds without one are copied back to their place, checked against their sha256.

Then the coverage stage runs on the merged profile with the repository's own coverage
config and notify runs with the merged report, through the same
:class:`~gopipe.lifecycle.RunSession` as any run. A part's paths are never trusted: files
are read only inside the part and written only inside ``dist/``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from gopipe.artifacts import Artifact, sha256_file
from gopipe.config import Config
from gopipe.errors import ConfigError
from gopipe.git import UNKNOWN, GitInfo, read_git_info
from gopipe.lifecycle import Prepared, RunSession
from gopipe.paths import remove_owned
from gopipe.plan import Plan
from gopipe.report import ProviderResult, StageResult, worst
from gopipe.stages import PIPELINES, Stage
from gopipe.types import MergeInput, Merger, PartFile

# Stages that run again on the merged data instead of being folded from the parts.
RERUN = (Stage.COVERAGE, Stage.NOTIFY)


@dataclass
class Part:
    """One job's output: ``out`` is its ``dist/gopipe``; ``dist`` its ``dist`` if uploaded."""

    label: str
    out: Path
    dist: Path | None
    report: dict[str, Any]

    @property
    def artifacts(self) -> list[dict[str, Any]]:
        return [a for a in self.report.get("artifacts") or [] if isinstance(a, dict)]

    def stage(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.report.get("stages") or [] if s.get("name") == name), None)


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


def merge_stage(name: str, entries: list[tuple[str, dict[str, Any]]]) -> StageResult:
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
                status=worst(str(p.get("status")) for _, p in runs),
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
    status = worst(str(s.get("status")) for _, s in entries)
    reasons = {str(s["reason"]) if s.get("reason") else None for _, s in entries}  # all agree
    reason = next(iter(reasons)) if status == "skipped" and len(reasons) == 1 else None
    return StageResult(
        name=name,
        status=status,
        reason=reason,
        duration_s=max(float(s.get("duration_s", 0.0)) for _, s in entries),
        providers=merged_providers,
        error="; ".join(errors) or None,
        summary="; ".join(summaries),
    )


class _Folder:
    """Folds the parts into the merged ``dist``: stages, artifacts by kind, part reports."""

    def __init__(self, parts: list[Part], config: Config, mergers: Sequence[Merger]) -> None:
        self.parts = parts
        self.config = config
        self.mergers = {m.kind: m for m in mergers}
        self.out_rel = config.out.relative_to(config.root)
        self.dist_rel = config.dist.relative_to(config.root)
        self.problems: dict[str, list[str]] = {}  # stage -> why it failed
        self.summaries: dict[str, str] = {}

    def fold(self) -> tuple[list[StageResult], list[Artifact]]:
        parts_dir = self.config.out / "parts"
        remove_owned(parts_dir, within=self.config.out)  # the previous merge's copies
        entries: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for part in self.parts:
            self._keep_part_report(part, parts_dir / part.label)
            for stage in part.report.get("stages") or []:
                name = str(stage.get("name"))
                if name in {s.value for s in Stage} - {s.value for s in RERUN}:
                    entries.setdefault(name, []).append((part.label, stage))
        stages = [merge_stage(s.value, entries[s.value]) for s in Stage if s.value in entries]
        artifacts = self._copy_unmerged() + self._run_mergers()
        for stage in stages:
            stage.summary = self.summaries.get(stage.name, stage.summary)
            problems = self.problems.get(stage.name)
            if problems:
                stage.status = "failed"
                stage.error = "; ".join(filter(None, [stage.error, *problems]))
        return stages, artifacts

    def problem(self, stage: str, text: str) -> None:
        self.problems.setdefault(stage, []).append(text)

    def _keep_part_report(self, part: Part, into: Path) -> None:
        into.mkdir(parents=True, exist_ok=True)
        base = part.out.resolve()
        for name in ("report.json", "events.jsonl"):
            src = (part.out / name).resolve()  # a symlink out of the part is not followed
            if src.is_relative_to(base) and src.is_file():
                shutil.copy2(src, into / name)
        if (part.out / "logs").is_dir():
            shutil.copytree(part.out / "logs", into / "logs", dirs_exist_ok=True, symlinks=True)

    def _source(self, part: Part, rel: str) -> Path | None:
        """Where an artifact path (relative to the repository) lies inside the part, if it does."""
        path = Path(rel)
        if path.is_absolute() or ".." in path.parts:
            return None
        if path.is_relative_to(self.out_rel):
            base, inner = part.out, path.relative_to(self.out_rel)
        elif part.dist is not None and path.is_relative_to(self.dist_rel):
            base, inner = part.dist, path.relative_to(self.dist_rel)
        else:
            return None
        src = (base / inner).resolve()
        return src if src.is_relative_to(base.resolve()) else None

    def _files(self, kind: str) -> list[PartFile]:
        found = []
        for part in self.parts:
            for a in part.artifacts:
                if a.get("kind") == kind:
                    src = self._source(part, str(a["path"])) if a.get("path") else None
                    found.append(PartFile(part.label, a, src if src and src.is_file() else None))
        return found

    def copy(self, file: PartFile) -> Artifact | str:
        """Copy one part's artifact back to its place under ``dist/``, checked; or say why not."""
        a, rel = file.artifact, file.artifact.get("path")
        kind = a.get("kind")
        if not rel:
            return _artifact(a)
        if file.path is None:
            return f"{kind} {rel} is missing from part {file.part} (upload the job's whole dist directory)"
        dest = (self.config.root / str(rel)).resolve()
        if not dest.is_relative_to(self.config.dist.resolve()):
            return f"{kind} {rel} in part {file.part} points outside {self.dist_rel}/; not copied"
        if a.get("sha256") and sha256_file(file.path) != a["sha256"]:
            return f"{kind} {rel} in part {file.part} does not match its sha256"
        if file.path != dest:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file.path, dest)
        return _artifact(a)

    def _copy_unmerged(self) -> list[Artifact]:
        kinds = {str(a.get("kind")) for part in self.parts for a in part.artifacts}
        copied = []
        for kind in sorted(kinds - set(self.mergers)):
            for file in self._files(kind):
                if file.artifact.get("stage") in {s.value for s in RERUN}:
                    continue
                result = self.copy(file)
                if isinstance(result, str):
                    self.problem(str(file.artifact.get("stage") or Stage.BUILD.value), result)
                else:
                    copied.append(result)
        return copied

    def _run_mergers(self) -> list[Artifact]:
        parts = {p.label: p.out for p in self.parts}
        made: list[Artifact] = []
        for kind, merger in self.mergers.items():
            files = self._files(kind)
            if not files:
                continue
            result = merger.merge(
                MergeInput(files, parts, self.config.out, self.copy, self.config.root, merger.stage)
            )
            made += result.artifacts
            for text in result.problems:
                self.problem(merger.stage.value, text)
            if result.summary is not None:
                self.summaries[merger.stage.value] = result.summary
        return made


def _artifact(data: Any) -> Artifact:
    names = {f.name for f in dataclasses.fields(Artifact)}
    return Artifact(**{k: v for k, v in dict(data).items() if k in names})


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
    session = RunSession(root, config_file=config_file, notify=notify, plain=plain)

    def prepare(config: Config, pm: pluggy.PluginManager) -> Prepared:
        parts = find_parts(inputs, config)
        git = _git_of(parts)
        local = read_git_info(config.root, session.environ)
        if "none" not in (local.sha, git.sha) and local.sha != git.sha:
            session.console.error(
                f"warning: the checkout is at {local.short_sha} but the parts ran on "
                f"{git.short_sha}; coverage paths may not match"
            )
        config.out.mkdir(parents=True, exist_ok=True)
        mergers = [m for found in pm.hook.gopipe_mergers() for m in found]
        stages, artifacts = _Folder(parts, config, mergers).fold()
        finished = {Stage(s.name): s for s in stages}
        with_coverage = Stage.TEST in finished
        plan_stages = tuple(s for s in Stage if s in finished or (s is Stage.COVERAGE and with_coverage))
        needs = {s: ((Stage.TEST,) if s is Stage.COVERAGE else ()) for s in plan_stages}
        name = _pipeline_name(s.value for s in plan_stages)
        return Prepared(
            plan=Plan(name, plan_stages, needs, notify=notify),
            finished=finished,
            artifacts=artifacts,
            git=git,
            title=f"{name} (merged from {len(parts)} parts)",
        )

    return session.run(["merge"], prepare=prepare).exit_code
