"""Confinement, outputs side: another run's records (a merged part, the stage cache, a plugin's
artifact) never make gopipe read or write outside the repository.

Each case runs the real ``gopipe`` command in the sandbox (see ``conftest.py``), whose
``check`` also proves that nothing outside the repository, inside the sentinel, changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from tests.hostile.conftest import Sandbox

pytestmark = pytest.mark.slow

TARGET = 'targets = ["linux/amd64"]\n'


# -- gopipe merge -----------------------------------------------------------------------------
def write_part(parts: Path, label: str, artifacts: list[dict[str, Any]], files: dict[str, bytes]) -> Path:
    """A job's uploaded ``dist`` as download-artifact lays it out: ``<parts>/<label>/gopipe/...``."""
    dist = parts / label
    (dist / "gopipe").mkdir(parents=True)
    for rel, data in files.items():
        (dist / rel).parent.mkdir(parents=True, exist_ok=True)
        (dist / rel).write_bytes(data)
    report = {
        "pipeline": "build",
        "status": "success",
        "exit_code": 0,
        "git": {"sha": "none"},
        "stages": [{"name": "build", "status": "success", "duration_s": 1.0, "providers": []}],
        "artifacts": artifacts,
    }
    (dist / "gopipe" / "report.json").write_text(json.dumps(report))
    return dist


def artifact(kind: str, path: str, data: bytes, stage: str = "build") -> dict[str, Any]:
    return {
        "kind": kind,
        "name": Path(path).name,
        "path": path,
        "sha256": hashlib.sha256(data).hexdigest(),
        "stage": stage,
        "provider": "go",
    }


@pytest.mark.parametrize("kind", ["binary", "notes"], ids=["merged-kind", "copied-kind"])
@pytest.mark.parametrize("where", ["parent", "absolute", "symlink"])
def test_merge_never_writes_a_part_artifact_outside_dist(
    sandbox: Sandbox, tmp_path: Path, kind: str, where: str
) -> None:
    data = b"\x7fELF smuggled"
    target = sandbox.sentinel / "outside" / "x"
    path = {"parent": "../../outside/x", "absolute": str(target), "symlink": "dist/escape/x"}[where]
    files = {"escape/x": data, "x": data}  # what a part could hold for either spelling
    (sandbox.repo / "dist").mkdir(exist_ok=True)
    (sandbox.repo / "dist" / "escape").symlink_to(sandbox.sentinel / "outside")
    parts = tmp_path / "parts"
    write_part(parts, "job-1", [artifact(kind, path, data)], files)
    outcome = sandbox.run("merge", str(parts), "--plain", "--no-notify")
    sandbox.check(outcome, code=1, says=path)
    assert not target.exists()
    assert outcome.report is not None
    assert not [a for a in outcome.report["artifacts"] if a.get("path") == path]


def test_merge_does_not_follow_a_part_report_symlink(sandbox: Sandbox, tmp_path: Path) -> None:
    """A part's events.jsonl that is a symlink to a file outside the part is not copied in."""
    parts = tmp_path / "parts"
    dist = write_part(parts, "job-1", [], {})
    (dist / "gopipe" / "events.jsonl").symlink_to(sandbox.sentinel / "keep.txt")
    outcome = sandbox.run("merge", str(parts), "--plain", "--no-notify")
    sandbox.check(outcome, code=0)
    assert "sentinel keep.txt" not in sandbox.dist_text()


# -- the stage cache ---------------------------------------------------------------------------
UPLOAD_S3 = (
    TARGET
    + "[tool.gopipe.package]\nproviders = []\n"
    + '[tool.gopipe.upload]\nproviders = ["s3"]\n'
    + '[tool.gopipe.upload.s3]\nbucket = "releases"\nendpoint_url = "http://127.0.0.1:9"\n'
    + 'region = "us-east-1"\nmax_attempts = 1\n'
)
AWS = {"AWS_ACCESS_KEY_ID": "AKIAHOSTILEEXAMPLE", "AWS_SECRET_ACCESS_KEY": "hostile-secret-key-0000"}


def test_a_poisoned_cache_entry_is_not_trusted(sandbox: Sandbox) -> None:
    """The build stage's cache record (another run's output) points an artifact outside the
    repository, with the right sha256: it is a cache miss, and nothing reads the file."""
    sandbox.config(UPLOAD_S3)
    first = sandbox.run("run", "upload", "--plain", env=AWS)
    assert first.code == 0, first.output[-3000:]
    cache = sandbox.repo / "dist" / "gopipe" / "cache" / "build.json"
    entry = json.loads(cache.read_text())
    outside = sandbox.sentinel / "keep.txt"
    entry["artifacts"].append(
        {
            "kind": "archive",
            "name": "keep.txt",
            "path": "../keep.txt",
            "sha256": hashlib.sha256(outside.read_bytes()).hexdigest(),
            "stage": "build",
            "provider": "go",
            "extra": {},
        }
    )
    cache.write_text(json.dumps(entry))
    outcome = sandbox.run("run", "upload", "--plain", env=AWS)
    sandbox.check(outcome, code=0, secrets=[AWS["AWS_SECRET_ACCESS_KEY"]])
    assert outcome.report is not None
    assert all(".." not in str(a.get("path")) for a in outcome.report["artifacts"])
    assert "nothing to upload" in json.dumps(outcome.report)


# -- a plugin's artifact -----------------------------------------------------------------------
SMUGGLER = """
from pathlib import Path

from gopipe.api import NoOptions, Packager, hookimpl


def run(ctx):
    ctx.add_artifact("archive", "keep.txt", Path("../keep.txt"))  # relative to the repository


@hookimpl
def gopipe_packagers():
    return [Packager(name="smuggle", run=run, options=NoOptions)]
"""


def smuggler(tmp_path: Path) -> dict[str, str]:
    """An installed plugin whose packager records an archive outside the repository."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "gopipe_smuggle.py").write_text(SMUGGLER)
    info = site / "gopipe_smuggle-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gopipe-smuggle\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[gopipe]\nsmuggle = gopipe_smuggle\n")
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


@pytest.mark.parametrize(
    "upload",
    [
        '[tool.gopipe.upload]\nproviders = ["s3"]\n[tool.gopipe.upload.s3]\nbucket = "releases"\n'
        'endpoint_url = "http://127.0.0.1:9"\nregion = "us-east-1"\nmax_attempts = 1\n',
        '[tool.gopipe.upload]\nproviders = ["oci-artifact"]\n[tool.gopipe.upload.oci-artifact]\n'
        'registry = "127.0.0.1:9"\ninsecure = true\nkinds = ["archive"]\n',
    ],
    ids=["s3", "oci-artifact"],
)
def test_upload_reads_no_artifact_outside_the_repo(sandbox: Sandbox, tmp_path: Path, upload: str) -> None:
    sandbox.config(TARGET + '[tool.gopipe.package]\nproviders = ["smuggle"]\n' + upload)
    outcome = sandbox.run("run", "upload", "--plain", env={**smuggler(tmp_path), **AWS})
    sandbox.check(outcome, code=2, says="archive 'keep.txt' path (recorded by package.smuggle)")
    assert "'../keep.txt' leaves the repository" in outcome.output
    upload_stage = next(s for s in (outcome.report or {}).get("stages", []) if s["name"] == "upload")
    assert "127.0.0.1:9" not in json.dumps(upload_stage)  # refused before connecting


def test_merge_replaces_its_parts_directory_without_following_a_symlink(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """dist/gopipe/parts is the merge's own: a symlink planted there is removed, not followed."""
    (sandbox.repo / "dist" / "gopipe").mkdir(parents=True)
    (sandbox.repo / "dist" / "gopipe" / "parts").symlink_to(sandbox.sentinel / "outside")
    parts = tmp_path / "parts"
    write_part(parts, "job-1", [], {})
    outcome = sandbox.run("merge", str(parts), "--plain", "--no-notify")
    sandbox.check(outcome, code=0)
    merged = sandbox.repo / "dist" / "gopipe" / "parts"
    assert merged.is_dir() and not merged.is_symlink()
    assert (merged / "job-1" / "report.json").is_file()
