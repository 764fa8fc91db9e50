"""``dist/gopipe/metadata.json``: git identity, images with digests, archive and binary
checksums, deployments and tool versions, masked, and recorded as an artifact."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest
from tests.plugins.notify.conftest import GIT, sample_report

from gopipe import __version__
from gopipe.artifacts import Artifact, ArtifactStore
from gopipe.config import load_config
from gopipe.console import Console
from gopipe.context import RunContext
from gopipe.events import EventLog
from gopipe.gotools import GoToolchain
from gopipe.manager import create_manager
from gopipe.report import Report
from gopipe.secrets import Redactor
from gopipe_plugins.observe.metadata import write_metadata


def write(tmp_path: Path, go_env: dict[str, str]) -> tuple[dict[str, Any], Artifact, Report, Path]:
    """Write metadata.json for a sample CD report; return it, its artifact, the report and out dir."""
    (tmp_path / "pyproject.toml").write_text("[tool.gopipe]\n")
    config = load_config(tmp_path)
    redactor = Redactor()
    redactor.add("s3cr3t-in-an-extra-0123")
    report = sample_report("success")
    report = dataclasses.replace(
        report,
        artifacts=[
            *report.artifacts,
            Artifact(
                "archive",
                "hello_1.4.0_linux_amd64.tar.gz",
                "dist/hello_1.4.0_linux_amd64.tar.gz",
                os="linux",
                arch="amd64",
                sha256="12" * 32,
            ),
            Artifact("binary", "hello", "dist/linux_amd64/hello", os="linux", arch="amd64", sha256="34" * 32),
            Artifact(
                "image",
                "hello-local",
                extra={"platforms": ["linux/amd64"], "note": "pushed with s3cr3t-in-an-extra-0123"},
            ),
        ],
    )
    events = EventLog(config.out / "events.jsonl", redactor, GIT.sha)
    run = RunContext(
        config=config,
        git=GIT,
        redactor=redactor,
        console=Console(redactor),
        events=events,
        go=GoToolchain(tmp_path, go_env),
        pm=create_manager(entry_points=False),
        artifacts=ArtifactStore(),
        report=report,
    )
    artifact = write_metadata(run, report)
    events.close()

    data = json.loads((config.out / "metadata.json").read_text())
    return data, artifact, report, config.out


def test_metadata_json(tmp_path: Path) -> None:
    # no Go on PATH (a run that failed before Go was found): the metadata still describes it
    data, artifact, report, out = write(tmp_path, {"PATH": str(tmp_path / "no-go-here")})
    assert data["git"]["sha"] == GIT.sha and data["git"]["branch"] == "main"
    assert data["git"]["version"] == GIT.version and data["git"]["tag"] is None
    assert data["images"][0] == {
        "name": "hello",
        "reference": "registry.example.com/acme/hello",
        "digest": "sha256:" + "ab" * 32,
    }
    assert data["images"][1]["digest"] is None and data["images"][1]["note"] == "pushed with ***"
    assert data["archives"] == [
        {
            "kind": "archive",
            "name": "hello_1.4.0_linux_amd64.tar.gz",
            "path": "dist/hello_1.4.0_linux_amd64.tar.gz",
            "sha256": "12" * 32,
            "os": "linux",
            "arch": "amd64",
        }
    ]
    assert data["binaries"][0]["sha256"] == "34" * 32
    assert data["deployments"] == [{"name": "staging", "environment": "staging", "outcome": "success"}]
    assert data["tools"]["gopipe"] == __version__
    assert data["tools"]["go"] == "unavailable"
    assert data["tools"]["pinned"]["staticcheck"].startswith("v")
    assert artifact in report.artifacts and artifact.kind == "metadata" and artifact.sha256
    logged = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert logged[-1]["event"] == "artifact" and logged[-1]["name"] == "metadata.json"


@pytest.mark.slow
def test_metadata_names_the_go_version(tmp_path: Path) -> None:
    data, *_ = write(tmp_path, dict(os.environ))
    assert data["tools"]["go"].startswith("go1.")
