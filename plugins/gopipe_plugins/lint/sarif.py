"""Write every lint finding of the run to ``dist/gopipe/lint.sarif`` (SARIF 2.1.0).

An observer, not a provider: it runs when the lint stage finishes, whichever linters
were selected, so code-scanning upload works with any mix of linters.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from gopipe import hookimpl
from gopipe.artifacts import Artifact, Finding
from gopipe.context import RunContext
from gopipe.report import StageResult
from gopipe.stages import Stage
from gopipe.types import MergeInput, MergeOutput, Merger

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {"error": "error", "warning": "warning", "note": "note"}


def to_sarif(findings: list[Finding]) -> dict[str, Any]:
    runs: dict[str, dict[str, Any]] = {}
    for f in findings:
        run = runs.setdefault(f.tool, {"tool": {"driver": {"name": f.tool, "rules": []}}, "results": []})
        rules = run["tool"]["driver"]["rules"]
        if not any(r["id"] == f.rule for r in rules):
            rules.append({"id": f.rule})
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "level": _LEVELS.get(f.level, "error"),
            "message": {"text": f.message},
        }
        if f.file:
            region = {k: v for k, v in (("startLine", f.line), ("startColumn", f.col)) if v}
            location: dict[str, Any] = {"artifactLocation": {"uri": f.file}}
            if region:
                location["region"] = region
            result["locations"] = [{"physicalLocation": location}]
        run["results"].append(result)
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": list(runs.values())}


@hookimpl
def gopipe_stage_finished(run: RunContext, result: StageResult) -> None:
    if result.name != "lint" or result.status == "skipped":
        return
    path = run.out / "lint.sarif"
    path.write_text(run.redactor(json.dumps(to_sarif(run.artifacts.findings("lint")), indent=2)))
    run.artifacts.add(
        Artifact(kind="sarif", name="lint.sarif", path=str(path.relative_to(run.root)), stage="lint")
    )


def merge_sarif(logs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One SARIF log with one run per tool: the results of that tool in every part."""
    runs: dict[str, dict[str, Any]] = {}
    schema = SARIF_SCHEMA
    for log in logs:
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


def fold_sarif(inp: MergeInput) -> MergeOutput:
    """``lint.sarif``: the runs of every part, one run per tool."""
    try:
        log = merge_sarif(json.loads(path.read_text(encoding="utf-8")) for path in inp.paths())
    except ValueError as exc:
        return MergeOutput(problems=[f"unreadable SARIF in a part: {exc}"])
    out = inp.out / "lint.sarif"
    out.write_text(json.dumps(log, indent=2))
    return MergeOutput(artifacts=[inp.record("sarif", out)])


@hookimpl
def gopipe_mergers() -> list[Merger]:
    return [Merger(kind="sarif", stage=Stage.LINT, merge=fold_sarif)]
