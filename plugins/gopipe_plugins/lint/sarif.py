"""Write every lint finding of the run to ``dist/gopipe/lint.sarif`` (SARIF 2.1.0).

An observer, not a provider: it runs when the lint stage finishes, whichever linters
were selected, so code-scanning upload works with any mix of linters.
"""

from __future__ import annotations

import json
from typing import Any

from gopipe import hookimpl
from gopipe.artifacts import Artifact, Finding
from gopipe.context import RunContext
from gopipe.report import StageResult

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
