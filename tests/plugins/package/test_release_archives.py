"""Release archives beyond one per target: choosing the binaries an archive holds (podinfo
archives only ``podcli``) and the source archive made with ``git archive``."""

from __future__ import annotations

import json
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from gopipe.testing import RunResult, make_git_repo

pytestmark = pytest.mark.slow

MAIN = 'package main\n\nimport "fmt"\n\nfunc main() {{ fmt.Println("{name}") }}\n'


@pytest.fixture
def two(tmp_path: Path) -> Path:
    repo = tmp_path / "two"
    for name in ("server", "cli"):
        (repo / "cmd" / name).mkdir(parents=True)
        (repo / "cmd" / name / "main.go").write_text(MAIN.format(name=name))
    (repo / "go.mod").write_text("module example.com/two\n\ngo 1.24\n")
    (repo / "pyproject.toml").write_text(
        '[tool.gopipe]\nmain = ["./cmd/server", "./cmd/cli"]\ntargets = ["linux/amd64"]\n'
        '[tool.gopipe.package]\nproviders = ["archive", "source-archive"]\n'
        '[tool.gopipe.package.archive]\nbinaries = ["cli"]\nsbom = false\n'
    )
    make_git_repo(repo)
    (repo / "untracked.txt").write_text("not in git\n")  # in the work tree, not in the commit
    return repo


def test_only_the_chosen_binaries_are_archived_and_the_source_archive_is_reproducible(
    two: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    first = gopipe_run(two, "package")
    assert first.exit_code == 0, json.dumps(first.report["stages"], indent=1)
    [archive] = [a for a in first.report["artifacts"] if a["kind"] == "archive"]
    with tarfile.open(two / archive["path"]) as tar:
        assert sorted(m.name for m in tar.getmembers() if m.isfile()) == ["cli"]
    [source] = [a for a in first.report["artifacts"] if a["kind"] == "source-archive"]
    version = first.report["git"]["version"]
    assert source["name"] == f"two-{version}.tar.gz"
    with tarfile.open(two / source["path"]) as tar:
        names = sorted(m.name for m in tar.getmembers() if m.isfile())
        mtimes = {m.mtime for m in tar.getmembers()}
    assert f"two-{version}/cmd/cli/main.go" in names and f"two-{version}/go.mod" in names
    assert not any("untracked" in n or "/dist/" in n for n in names)
    assert mtimes == {1767323045}  # the commit time
    before = (two / source["path"]).read_bytes()
    shutil.rmtree(two / "dist")
    second = gopipe_run(two, "package")
    assert second.exit_code == 0
    assert (two / source["path"]).read_bytes() == before


def test_an_unknown_binary_name_fails(two: Path, gopipe_run: Callable[..., RunResult]) -> None:
    text = (two / "pyproject.toml").read_text().replace('binaries = ["cli"]', 'binaries = ["podcli"]')
    (two / "pyproject.toml").write_text(text)
    result = gopipe_run(two, "package")
    assert result.exit_code == 1
    assert "no binary named podcli" in json.dumps(result.report)
