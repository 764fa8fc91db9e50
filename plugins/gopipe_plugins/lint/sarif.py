"""Write every lint finding of the run to ``dist/gopipe/lint.sarif`` (SARIF 2.1.0).

An observer, not a provider: it runs when the lint stage finishes, whichever linters
were selected, so code-scanning upload works with any mix of linters. What GitHub's code
scanning needs, and gets here:

- at least one run: one per selected linter, with ``results: []`` when it found nothing (a
  clean run is how code scanning learns that earlier alerts are fixed);
- ``tool.driver`` with the version that ran and a descriptor for each rule it reported
  (see :mod:`gopipe_plugins.lint.driver`);
- every result with a rule id, a message and a location: a URI relative to the repository's
  top directory under ``%SRCROOT%`` (not to the Go module, which may sit in a subdirectory),
  and a start line;
- ``partialFingerprints.primaryLocationLineHash`` that survives moving the code: a hash of
  the rule, the file and the text of the line (whitespace ignored), then ``:n`` for the n-th
  such result, as GitHub's own upload action computes one when it is missing;
- a finding accepted for now (a govulncheck waiver, ``Finding.suppressed``) keeps its level
  and gets ``suppressions: [{kind: external, status: accepted, justification}]``: the
  waiver lives in the config, not in the source, and code scanning shows it as dismissed.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gopipe import hookimpl
from gopipe.artifacts import Artifact, Finding
from gopipe.context import RunContext
from gopipe.report import StageResult
from gopipe.stages import Stage
from gopipe.types import MergeInput, MergeOutput, Merger
from gopipe_plugins._common.repo_paths import repository_path, repository_root
from gopipe_plugins.lint.driver import KIND, Driver, from_artifact

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
FINGERPRINT = "primaryLocationLineHash"
_LEVELS = {"error": "error", "warning": "warning", "note": "note"}


@dataclass(frozen=True)
class LinterRun:
    """One selected linter: the run it becomes, and whether it ran to its end."""

    provider: str
    driver: Driver
    succeeded: bool = True
    error: str | None = None


@dataclass
class _Run:
    linter: LinterRun
    findings: list[Finding] = field(default_factory=list)


class _Sources:
    """Repository-relative URIs and line texts, each file read at most once."""

    def __init__(self, module_root: Path, repo_root: Path) -> None:
        self.module_root = module_root
        self.repo_root = repo_root
        self._lines: dict[str, list[str] | None] = {}

    def uri(self, file: str) -> str | None:
        """A finding's file relative to the repository: findings name it so already (see
        :class:`~gopipe.artifacts.Finding`); a plugin's name relative to the module, or an
        absolute one, is turned into that when the file is there."""
        path = Path(file)
        if not path.is_absolute():
            in_module = self.module_root / path
            found = not (self.repo_root / path).is_file() and in_module.is_file()
            path = in_module if found else self.repo_root / path
        return repository_path(path, self.module_root, self.repo_root)

    def line(self, uri: str, number: int) -> str | None:
        if uri not in self._lines:
            try:
                text = (self.repo_root / uri).read_text(encoding="utf-8", errors="replace")
            except OSError:
                self._lines[uri] = None
            else:
                self._lines[uri] = text.splitlines()
        lines = self._lines[uri]
        return lines[number - 1] if lines is not None and 0 < number <= len(lines) else None


def to_sarif(
    linters: Sequence[LinterRun], findings: Iterable[Finding], *, module_root: Path, repo_root: Path
) -> dict[str, Any]:
    """A SARIF log with one run per linter (in ``linters`` order), findings in their tool's run.

    A finding whose ``tool`` names no linter's driver (nor provider) gets a run of its own.
    """
    runs = [_Run(linter) for linter in linters]
    for finding in findings:
        run = next((r for r in runs if r.linter.driver.name == finding.tool), None) or next(
            (r for r in runs if r.linter.provider == finding.tool), None
        )
        if run is None:
            run = _Run(LinterRun(finding.tool, Driver(finding.tool)))
            runs.append(run)
        run.findings.append(finding)
    sources = _Sources(module_root.resolve(), repo_root.resolve())
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [_run(r, sources) for r in runs]}


def _run(run: _Run, sources: _Sources) -> dict[str, Any]:
    ordered = sorted(run.findings, key=lambda f: (f.file or "", f.line or 0, f.col or 0, f.rule, f.message))
    results = []
    seen: Counter[str] = Counter()
    for finding in ordered:
        result, digest = _result(finding, sources)
        if result in results:
            continue  # a tool that reports one problem twice (several build configurations)
        seen[digest] += 1
        result["partialFingerprints"] = {FINGERPRINT: f"{digest}:{seen[digest]}"}
        results.append(result)
    rule_ids = list(dict.fromkeys(f.rule for f in ordered))
    invocation: dict[str, Any] = {"executionSuccessful": run.linter.succeeded}
    if not run.linter.succeeded:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": run.linter.error or "the linter did not finish"}}
        ]
    return {
        "tool": {"driver": run.linter.driver.to_sarif(rule_ids)},
        "invocations": [invocation],
        "originalUriBaseIds": {SRCROOT: {"uri": sources.repo_root.as_uri() + "/"}},
        "results": results,
    }


def _result(finding: Finding, sources: _Sources) -> tuple[dict[str, Any], str]:
    """The SARIF result and its location's hash (without the occurrence number)."""
    uri = sources.uri(finding.file) if finding.file else None
    artifact: dict[str, Any]
    if uri is not None and uri != ".":
        artifact = {"uri": uri, "uriBaseId": SRCROOT}
    elif finding.file and Path(finding.file).is_absolute():
        artifact = {"uri": Path(finding.file).as_uri()}  # outside the repository: GOROOT, a cache
    else:  # no file (a module-wide problem): the module's go.mod stands for the module
        uri = sources.uri("go.mod") or "go.mod"
        artifact = {"uri": uri, "uriBaseId": SRCROOT}
    line = finding.line if finding.line and finding.line > 0 else 1
    region: dict[str, Any] = {"startLine": line}
    if finding.col and finding.col > 0:
        region["startColumn"] = finding.col
    if finding.end_line and finding.end_line >= line:
        region["endLine"] = finding.end_line
    text = sources.line(uri, line) if uri else None
    anchor = "".join((text if text is not None else finding.message).split())
    digest = hashlib.sha256(f"{finding.rule}\0{artifact['uri']}\0{anchor}".encode()).hexdigest()[:16]
    result = {
        "ruleId": finding.rule,
        "level": _LEVELS.get(finding.level, "error"),
        "message": {"text": finding.message.strip() or finding.rule},
        "locations": [{"physicalLocation": {"artifactLocation": artifact, "region": region}}],
    }
    if finding.suppressed:
        result["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": finding.suppressed}
        ]
    return result, digest


def selected_linters(run: RunContext, result: StageResult) -> list[LinterRun]:
    """The lint stage's linters as they ran: drivers they recorded, and their outcome.

    A stage that never started (cancelled first) lists no providers; then the configured ones
    stand in, each marked as not run, so the file still says what was not checked.
    """
    drivers: dict[str, Driver] = {}
    for artifact in run.artifacts.of_kind(KIND):
        if artifact.stage == Stage.LINT.value and artifact.provider:
            drivers[artifact.provider] = from_artifact(artifact)
    findings = run.artifacts.findings(Stage.LINT.value)
    linters = []
    for provider in result.providers:
        driver = drivers.get(provider.name) or Driver(provider.name)
        found = any(f.tool in (driver.name, provider.name) for f in findings)
        ok = provider.status == "success" or (provider.status == "failed" and found)
        linters.append(LinterRun(provider.name, driver, ok, None if ok else provider.error))
    if not result.providers:
        why = result.error or "the lint stage did not run"
        linters = [LinterRun(n, Driver(n), False, why) for n in run.config.stage(Stage.LINT).providers]
    return linters


@hookimpl
def gopipe_stage_finished(run: RunContext, result: StageResult) -> None:
    if result.name != Stage.LINT.value or result.status == "skipped":
        return
    findings = run.artifacts.findings(Stage.LINT.value)
    linters = selected_linters(run, result)
    if not linters and not findings:
        return  # no run to write: GitHub rejects a log without runs
    log = to_sarif(linters, findings, module_root=run.root, repo_root=repository_root(run.root))
    run.out.mkdir(parents=True, exist_ok=True)
    path = run.out / "lint.sarif"
    path.write_text(json.dumps(run.redactor.redact_obj(log), indent=2) + "\n", encoding="utf-8")
    run.artifacts.add(
        Artifact(kind="sarif", name="lint.sarif", path=str(path.relative_to(run.root)), stage="lint")
    )


def merge_sarif(logs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One SARIF log with one run per tool: the results of that tool in every part.

    Runs without results stay (a clean linter is news for code scanning); the driver keeps
    the first part's version and links, rules and invocations are joined, each base id keeps
    its first location, and a result repeated by several parts appears once.
    """
    runs: dict[str, dict[str, Any]] = {}
    schema = SARIF_SCHEMA
    for log in logs:
        schema = log.get("$schema", schema)
        for run in log.get("runs") or []:
            driver = run.get("tool", {}).get("driver", {})
            name = str(driver.get("name", "unknown"))
            into = runs.setdefault(
                name,
                {
                    "tool": {"driver": {"name": name, "rules": []}},
                    "invocations": [],
                    "originalUriBaseIds": {},
                    "results": [],
                },
            )
            merged_driver = into["tool"]["driver"]
            for key, value in driver.items():
                if key not in ("name", "rules"):
                    merged_driver.setdefault(key, value)
            rules = merged_driver["rules"]
            for rule in driver.get("rules") or []:
                if not any(r.get("id") == rule.get("id") for r in rules):
                    rules.append(rule)
            for invocation in run.get("invocations") or []:
                if invocation not in into["invocations"]:
                    into["invocations"].append(invocation)
            for base, location in (run.get("originalUriBaseIds") or {}).items():
                into["originalUriBaseIds"].setdefault(base, location)
            for result in run.get("results") or []:
                if result not in into["results"]:
                    into["results"].append(result)
    return {"$schema": schema, "version": "2.1.0", "runs": [_tidy(runs[k]) for k in sorted(runs)]}


def _tidy(run: dict[str, Any]) -> dict[str, Any]:
    """Drop the optional members no part had: an empty ``invocations`` or base-id table says nothing."""
    return {k: v for k, v in run.items() if k in ("tool", "results") or v}


def fold_sarif(inp: MergeInput) -> MergeOutput:
    """``lint.sarif``: the runs of every part, one run per tool."""
    try:
        log = merge_sarif(json.loads(path.read_text(encoding="utf-8")) for path in inp.paths())
    except ValueError as exc:
        return MergeOutput(problems=[f"unreadable SARIF in a part: {exc}"])
    out = inp.out / "lint.sarif"
    out.write_text(json.dumps(log, indent=2) + "\n", encoding="utf-8")
    return MergeOutput(artifacts=[inp.record("sarif", out)])


@hookimpl
def gopipe_mergers() -> list[Merger]:
    return [Merger(kind="sarif", stage=Stage.LINT, merge=fold_sarif)]
