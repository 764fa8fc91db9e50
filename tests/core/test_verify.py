"""``gopipe verify``: a rebuild in a clean clone elsewhere matches, and a tampered input shows.

The tampered input is ``GOAMD64=v3``, set for the recorded build only: it changes the
amd64 binary (and so the archive, checksums and image) without touching the repository.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.plugins.package.conftest import commit_all, write_package_config

from gopipe.cli import main
from gopipe.testing import RunResult
from gopipe.verify import Recorded, compare, first_difference


def test_first_difference(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"x" * 70000 + b"1")
    b.write_bytes(b"x" * 70000 + b"2")
    assert first_difference(a, b) == 70000
    b.write_bytes(b"x" * 70000)
    assert first_difference(a, b) == 70000  # a prefix: where the shorter one ends
    b.write_bytes(a.read_bytes())
    assert first_difference(a, b) is None


def test_compare_names_missing_and_changed_artifacts(tmp_path: Path) -> None:
    rec = {
        "binary:bin/x": Recorded("binary:bin/x", "binary", "aa", "bin/x"),
        "image:x": Recorded("image:x", "image", "sha256:11", None),
    }
    diffs = compare(rec, {"image:x": Recorded("image:x", "image", "sha256:22", None)}, tmp_path, tmp_path)
    assert [d.line() for d in diffs] == [
        "binary:bin/x: not produced by the rebuild",
        "image:x: recorded sha256:11, rebuilt sha256:22",
    ]


@pytest.mark.slow  # two Go builds of hello, each packaged
def test_verify_passes_untouched_and_names_the_artifact_a_tampered_input_changed(
    hello_repo: Path,
    gopipe_run: Callable[..., RunResult],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_package_config(
        hello_repo, '[tool.gopipe.package]\nproviders = ["oci-image", "archive"]\n', ("linux/amd64",)
    )
    commit_all(hello_repo)
    assert gopipe_run(hello_repo, "build", "package").exit_code == 0
    capsys.readouterr()
    assert main(["verify", "-C", str(hello_repo)]) == 0
    out = capsys.readouterr().out
    assert "4 artifacts rebuilt identically" in out, out
    result = json.loads((hello_repo / "dist/gopipe/verify.json").read_text())
    assert result["status"] == "reproducible" and not Path(result["rebuilt_in"]).exists()
    assert not result["rebuilt_in"].startswith(str(hello_repo))

    monkeypatch.setenv("GOAMD64", "v3")
    assert gopipe_run(hello_repo, "build", "package").exit_code == 0
    monkeypatch.delenv("GOAMD64")
    capsys.readouterr()
    assert main(["verify", "-C", str(hello_repo)]) == 1
    out = capsys.readouterr().out
    result = json.loads((hello_repo / "dist/gopipe/verify.json").read_text())
    assert result["status"] == "differs"
    diffs = {d["artifact"]: d for d in result["differences"]}
    binary = diffs["binary:dist/hello_linux_amd64/hello"]
    assert isinstance(binary["first_difference"], int) and binary["recorded"] != binary["rebuilt"]
    assert f"binary:dist/hello_linux_amd64/hello: recorded {binary['recorded'][:19]}" in out
    assert f"first difference at byte {binary['first_difference']}" in out
    assert "image:hello" in diffs
    kept = Path(result["rebuilt_in"])
    assert kept.is_dir()  # kept for inspection after a difference; this test removes it
    shutil.rmtree(kept.parents[1])


@pytest.mark.slow  # two Go builds
def test_a_module_in_a_subdirectory_is_rebuilt_in_the_same_subdirectory_of_a_whole_clone(
    tmp_path: Path, gopipe_run: Callable[..., RunResult], capsys: pytest.CaptureFixture[str]
) -> None:
    from gopipe.testing import make_git_repo

    repo = tmp_path / "mono"
    module = repo / "services" / "api"
    (module / "cmd" / "api").mkdir(parents=True)
    (module / "go.mod").write_text("module example.com/api\n\ngo 1.24\n")
    (module / "cmd" / "api" / "main.go").write_text(
        'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("api") }\n'
    )
    (module / "pyproject.toml").write_text('[tool.gopipe]\ntargets = ["linux/amd64"]\n')
    make_git_repo(repo)
    assert gopipe_run(module, "build").exit_code == 0
    capsys.readouterr()
    assert main(["verify", "-C", str(module)]) == 0, capsys.readouterr().out
    result = json.loads((module / "dist/gopipe/verify.json").read_text())
    assert result["status"] == "reproducible"
    assert result["rebuilt_in"].endswith("/elsewhere/mono/services/api")
