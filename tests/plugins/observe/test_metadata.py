"""``dist/gopipe/metadata.json``: git identity, images with digests, archive and binary
checksums, deployments and tool versions, masked, and recorded as an artifact."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from tests.plugins.notify.conftest import GIT, sample_report

from gopipe import __version__
from gopipe.artifacts import Artifact, ArtifactStore
from gopipe.config import load_config
from gopipe.console import Console
from gopipe.context import RunContext
from gopipe.events import EventLog
from gopipe.gotools import GoToolchain
from gopipe.manager import create_manager
from gopipe.secrets import Redactor
from gopipe_plugins.observe.metadata import write_metadata


def test_metadata_json(tmp_path: Path) -> None:
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
        go=GoToolchain(tmp_path, dict(os.environ)),
        pm=create_manager(entry_points=False),
        artifacts=ArtifactStore(),
        report=report,
    )
    artifact = write_metadata(run, report)
    events.close()

    data = json.loads((config.out / "metadata.json").read_text())
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
    assert data["tools"]["go"].startswith("go1.")
    assert data["tools"]["pinned"]["staticcheck"].startswith("v")
    assert artifact in report.artifacts and artifact.kind == "metadata" and artifact.sha256
    logged = [json.loads(line) for line in (config.out / "events.jsonl").read_text().splitlines()]
    assert logged[-1]["event"] == "artifact" and logged[-1]["name"] == "metadata.json"
