"""Stale outputs: every run starts by removing the previous run's stage outputs.

Without this, ``dist/gopipe/coverage.xml`` from an earlier run sits beside a new report in
which coverage was skipped, and CI uploads it as if it were current. What is removed is
only what the previous run says it created: the files its ``report.json`` lists as
artifacts inside ``dist/gopipe``, and the run's own records (the report, events and
stage logs). Everything else stays: the stage cache (``cache/``, which puts back the files
of a stage it restores), the run lock (``.lock``), and files a run keeps on purpose, such as
the test timings CI restores before the run.

Deleting goes through :func:`gopipe.paths.remove_owned`: confined to ``dist/gopipe``, a
symlink is removed itself and never followed, and a path in the old report that leads
anywhere else (another run's record is not trusted) is left alone.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from gopipe.paths import remove_owned

RECORDS = ("report.json", "events.jsonl", "logs")
KEPT = frozenset({"cache", ".lock"})


def previous_outputs(out: Path, root: Path) -> list[Path]:
    """What the last run in ``out`` created and a new run replaces, inside ``out`` only."""
    found = [out / name for name in RECORDS]
    try:
        report = json.loads((out / "report.json").read_text())
    except (OSError, ValueError):
        report = {}
    artifacts = report.get("artifacts") if isinstance(report, dict) else None
    for artifact in artifacts if isinstance(artifacts, list) else ():
        path = artifact.get("path") if isinstance(artifact, dict) else None
        if not isinstance(path, str) or not path or "\0" in path:
            continue
        rel = PurePosixPath(path)
        if rel.is_absolute() or ".." in rel.parts:
            continue
        found.append(root / rel)
    bound = out.resolve()
    kept = {bound / name for name in KEPT}
    chosen = []
    for path in found:
        target = path.parent.resolve() / path.name  # the last part is not followed
        if (
            target.is_relative_to(bound)
            and target != bound
            and not any(target == k or target.is_relative_to(k) for k in kept)
        ):
            chosen.append(target)
    return list(dict.fromkeys(chosen))


def remove_previous_outputs(out: Path, root: Path) -> list[Path]:
    """Remove :func:`previous_outputs`; return what was there and is gone."""
    removed = []
    for path in previous_outputs(out, root):
        if path.exists() or path.is_symlink():
            try:
                remove_owned(path, within=out)
            except (OSError, ValueError):
                continue  # not ours after all, or in use: a stale file is better than a crash
            removed.append(path)
    return removed
