"""The stage cache's key and store: what changes the fingerprint, what must not, and why a
hit is refused when a recorded file changed. The Go version is passed in as a string, so
nothing here runs Go."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gopipe.artifacts import Artifact, Finding, sha256_file
from gopipe.cache import CACHEABLE, CachedStage, SourceTree, StageCache, fingerprint
from gopipe.config.loader import Settings
from gopipe.registry import RegisteredProvider, SelectedProvider
from gopipe.secrets import Redactor
from gopipe.stages import Stage
from gopipe.testing import make_git_repo
from gopipe.types import Linter


@dataclass(frozen=True)
class VetOptions:
    checks: tuple[str, ...] = ("all",)


def _noop(ctx: Any) -> None:
    pass


def selected(checks: tuple[str, ...] = ("all",), version: str = "1.0.0") -> list[SelectedProvider]:
    registered = RegisteredProvider(
        Linter(name="vet", run=_noop, options=VetOptions), "vet", "gopipe", version
    )
    return [SelectedProvider(registered, VetOptions(checks))]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cache") / "repo"
    (root / "cmd").mkdir(parents=True)
    (root / "go.mod").write_text("module example.com/m\n\ngo 1.24\n")
    (root / "cmd" / "main.go").write_text("package main\n\nfunc main() {}\n")
    return make_git_repo(root)  # ignores /dist/


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    """A private copy of the template repository, to edit."""
    return Path(shutil.copytree(template, tmp_path / "repo", symlinks=True))


@pytest.fixture(scope="module")
def sources(template: Path) -> SourceTree:
    """The template's sources, digested once: for the tests that change other inputs."""
    return SourceTree(template, [template / "dist"])


def key(where: Path | SourceTree, **change: Any) -> str:
    """The lint fingerprint with one input changed; a fresh SourceTree for a path."""
    inputs: dict[str, Any] = {
        "stage": Stage.LINT,
        "selected": selected(),
        "environ": {"GOFLAGS": "-mod=mod", "HOME": "/root", "PATH": "/usr/bin"},
        "go_version": "go1.24.0",
        "settings": Settings(),
        "args": ((), None),
        "upstream": [],
    }
    inputs.update(change)
    tree = where if isinstance(where, SourceTree) else SourceTree(where, [where / "dist"])
    return fingerprint(
        inputs["stage"],
        tree,
        inputs["selected"],
        inputs["environ"],
        inputs["go_version"],
        inputs["settings"],
        inputs["args"],
        inputs["upstream"],
    )


def test_the_key_is_stable_for_unchanged_inputs(repo: Path) -> None:
    assert key(repo) == key(repo)


def test_a_source_edit_changes_the_key(repo: Path) -> None:
    before = key(repo)
    (repo / "cmd" / "main.go").write_text("package main\n\nfunc main() { println() }\n")
    assert key(repo) != before


def test_a_new_untracked_source_file_changes_the_key(repo: Path) -> None:
    before = key(repo)
    (repo / "cmd" / "extra.go").write_text("package main\n")
    assert key(repo) != before


def test_outputs_under_dist_do_not_change_the_key(repo: Path) -> None:
    (repo / ".gitignore").unlink()  # even when dist/ is not ignored, it is gopipe's output
    before = key(repo)
    (repo / "dist" / "gopipe").mkdir(parents=True)
    (repo / "dist" / "hello_linux_amd64").write_bytes(b"\x7fELF")
    (repo / "dist" / "gopipe" / "report.json").write_text("{}")
    assert key(repo) == before


def test_git_ignored_files_do_not_change_the_key(repo: Path) -> None:
    (repo / ".gitignore").write_text("/dist/\n*.log\n")
    before = key(repo)
    (repo / "debug.log").write_text("noise")
    assert key(repo) == before


def test_dist_is_excluded_even_outside_git(tmp_path: Path) -> None:
    root = tmp_path / "plain"  # no repository: every file is walked
    (root / "dist").mkdir(parents=True)
    (root / "main.go").write_text("package main\n")
    before = key(root)
    (root / "dist" / "binary").write_bytes(b"new output")
    assert key(root) == before
    (root / "main.go").write_text("package main\n\n// edited\n")
    assert key(root) != before


@pytest.mark.parametrize(
    "environ",
    [
        {"GOFLAGS": "-mod=vendor", "HOME": "/root", "PATH": "/usr/bin"},  # changed GO* value
        {"GOFLAGS": "-mod=mod", "GOARCH": "arm64", "HOME": "/root", "PATH": "/usr/bin"},  # new GO*
        {"GOFLAGS": "-mod=mod", "CGO_ENABLED": "1", "HOME": "/root", "PATH": "/usr/bin"},
        {"HOME": "/root", "PATH": "/usr/bin"},  # GO* removed
    ],
)
def test_the_go_environment_changes_the_key(sources: SourceTree, environ: dict[str, str]) -> None:
    assert key(sources, environ=environ) != key(sources)


def test_unrelated_environment_does_not_change_the_key(sources: SourceTree) -> None:
    environ = {
        "GOFLAGS": "-mod=mod",
        "HOME": "/home/other",
        "PATH": "/opt/bin",
        "GOPIPE_REGISTRY": "127.0.0.1:5000",  # gopipe's own variables steer gopipe, not Go
        "CI": "true",
    }
    assert key(sources, environ=environ) == key(sources)


@pytest.mark.parametrize(
    "change",
    [
        {"selected": selected(checks=("shadow",))},  # provider options
        {"selected": selected(version="1.1.0")},  # the plugin's (and its tool's) version
        {"selected": []},  # which providers
        {"settings": Settings(targets=("linux/amd64",))},
        {"settings": Settings(env={"GOEXPERIMENT": "rangefunc"})},
        {"upstream": ["0" * 64]},  # what a needed stage produced
        {"go_version": "go1.24.1"},
        {"args": (("lint",), (1, 2))},  # a shard runs other tests
        {"stage": Stage.TEST},
    ],
    ids=[
        "options",
        "plugin-version",
        "providers",
        "settings",
        "settings-env",
        "upstream",
        "go",
        "args",
        "stage",
    ],
)
def test_every_declared_input_changes_the_key(sources: SourceTree, change: dict[str, Any]) -> None:
    assert key(sources, **change) != key(sources)


def test_only_side_effect_free_stages_are_cacheable() -> None:
    assert {Stage.LINT, Stage.TEST, Stage.COVERAGE, Stage.BUILD} == CACHEABLE


# -- the store -------------------------------------------------------------------------------
@pytest.fixture
def stored(repo: Path) -> tuple[StageCache, Path]:
    binary = repo / "dist" / "linux_amd64" / "hello"
    binary.parent.mkdir(parents=True)
    binary.write_bytes(b"binary v1")
    cache = StageCache(repo / "dist" / "gopipe" / "cache", repo)
    artifact = Artifact(
        "binary", "hello", "dist/linux_amd64/hello", os="linux", arch="amd64", sha256=sha256_file(binary)
    )
    finding = Finding("vet", "printf", "bad format", file="cmd/main.go", line=3)
    cache.store(Stage.BUILD, CachedStage("k1", "1 binary", [artifact], [finding]), Redactor())
    return cache, binary


def test_a_hit_restores_summary_artifacts_and_findings(stored: tuple[StageCache, Path]) -> None:
    cache, _ = stored
    hit = cache.lookup(Stage.BUILD, "k1")
    assert hit is not None
    assert hit.summary == "1 binary"
    assert [(a.kind, a.path, a.os, a.arch) for a in hit.artifacts] == [
        ("binary", "dist/linux_amd64/hello", "linux", "amd64")
    ]
    assert hit.findings == [Finding("vet", "printf", "bad format", file="cmd/main.go", line=3)]


def test_another_key_or_stage_misses(stored: tuple[StageCache, Path]) -> None:
    cache, _ = stored
    assert cache.lookup(Stage.BUILD, "k2") is None
    assert cache.lookup(Stage.LINT, "k1") is None


def test_a_changed_or_missing_artifact_refuses_the_hit(stored: tuple[StageCache, Path]) -> None:
    cache, binary = stored
    binary.write_bytes(b"binary v2, same name")
    assert cache.lookup(Stage.BUILD, "k1") is None
    binary.write_bytes(b"binary v1")
    assert cache.lookup(Stage.BUILD, "k1") is not None
    binary.unlink()
    assert cache.lookup(Stage.BUILD, "k1") is None


def test_a_corrupt_entry_is_a_miss(stored: tuple[StageCache, Path]) -> None:
    cache, _ = stored
    (cache.directory / "build.json").write_text("{not json")
    assert cache.lookup(Stage.BUILD, "k1") is None


def test_stored_entries_are_masked(repo: Path) -> None:
    redactor = Redactor()
    redactor.add("hunter2-very-secret")
    cache = StageCache(repo / "dist" / "gopipe" / "cache", repo)
    cache.store(Stage.LINT, CachedStage("k", "token hunter2-very-secret", [], []), redactor)
    text = (cache.directory / "lint.json").read_text()
    assert "hunter2" not in text and json.loads(text)["summary"] == "token ***"
