"""``dist/gopipe/metadata.json``: what was built, from which commit, with which tools.

Written by an always-on observer when the run finishes (passed or not), so incident
reviews can answer "which commit and image is this?" from the build output alone:
git identity (sha, branch, tag, version), image references with digests, archive and
binary checksums, deployments, and tool versions (Go, gopipe, Python, pinned Go tools).
Every string passes the run's redactor.
"""

from __future__ import annotations

import json
import os
import platform
import time
from typing import Any

from gopipe import __version__, hookimpl
from gopipe.artifacts import Artifact, sha256_file
from gopipe.context import RunContext, os_relpath
from gopipe.gotools import TOOLS
from gopipe.report import Report

SCHEMA_VERSION = 1
FILE = "metadata.json"


def metadata(run: RunContext, report: Report) -> dict[str, Any]:
    git = run.git
    artifacts = list(report.artifacts)
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": round(time.time(), 3),
        "project": run.project,
        "pipeline": report.pipeline,
        "status": report.status,
        "ci_url": report.ci_url,
        "git": {
            "sha": git.sha,
            "short_sha": git.short_sha,
            "branch": git.branch,
            "tag": git.tag,
            "version": git.version,
            "dirty": git.dirty,
            "commit_time": git.commit_time,
            "date": git.date,
            "author": git.author,
            "remote_url": git.remote_url,
        },
        "images": [_image(a) for a in artifacts if a.kind == "image"],
        "archives": [_file(a) for a in artifacts if a.kind in ("archive", "checksums", "sbom")],
        "binaries": [_file(a) for a in artifacts if a.kind == "binary"],
        "deployments": [_deployment(a) for a in artifacts if a.kind == "deployment"],
        "tools": tool_versions(run),
    }


def tool_versions(run: RunContext) -> dict[str, Any]:
    try:
        go = run.go.version()
    except OSError:  # no Go toolchain on PATH: the run failed early, still describe it
        go = "unavailable"
    return {
        "go": go,
        "gopipe": __version__,
        "python": platform.python_version(),
        "pinned": {name: tool.version for name, tool in sorted(TOOLS.items())},
    }


def _image(a: Artifact) -> dict[str, Any]:
    extra = dict(a.extra)
    digest = extra.pop("digest", None) or (f"sha256:{a.sha256}" if a.sha256 else None)
    reference = extra.pop("reference", None) or a.name
    return {
        "name": a.name,
        "reference": reference,
        "digest": digest,
        **({"path": a.path} if a.path else {}),
        **extra,
    }


def _file(a: Artifact) -> dict[str, Any]:
    out = {"kind": a.kind, "name": a.name, "path": a.path, "sha256": a.sha256, "os": a.os, "arch": a.arch}
    return {k: v for k, v in out.items() if v is not None}


def _deployment(a: Artifact) -> dict[str, Any]:
    return {"name": a.name, **dict(a.extra)}


def write_metadata(run: RunContext, report: Report) -> Artifact:
    """Write the file atomically and record it as an artifact of the run."""
    out = run.out
    out.mkdir(parents=True, exist_ok=True)
    path = out / FILE
    data = run.redactor.redact_obj(metadata(run, report))
    tmp = path.with_name(f"{FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    artifact = Artifact(
        kind="metadata",
        name=FILE,
        path=os_relpath(path, run.root),
        sha256=sha256_file(path),
        provider="metadata",
    )
    run.artifacts.add(artifact)
    report.artifacts.append(artifact)
    run.events.emit("artifact", **artifact.to_json())
    return artifact


@hookimpl
def gopipe_run_finished(run: RunContext, report: Report) -> None:
    """Always on; a failure to write is reported (console and events) but loses nothing else."""
    try:
        write_metadata(run, report)
    except OSError as exc:
        run.console.error(f"metadata.json not written: {exc}")
        run.events.emit("error", where="metadata", message=f"metadata.json not written: {exc}")
