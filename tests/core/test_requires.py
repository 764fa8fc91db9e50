"""``[tool.gopipe] requires``: a run whose installed distributions miss a requirement stops
before selection with a config error (exit 2) naming the requirement and the pip install
that fixes it; the report is still written. Distributions are real ``.dist-info``
directories read by ``importlib.metadata``, not a stubbed lookup."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from gopipe.config import load_config
from gopipe.errors import ConfigError
from gopipe.requires import check_requires
from gopipe.testing import RunResult


def repo_with(tmp_path: Path, *requires: str) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    listed = ", ".join(json.dumps(r) for r in requires)  # a JSON string is a TOML basic string
    (repo / "pyproject.toml").write_text(f'[tool.gopipe]\nrequires = [{listed}]\ntargets = ["linux/amd64"]\n')
    return repo


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on sys.path holding gopipe-fake 1.4 (extra ``teams`` needs a missing dist)."""
    path = tmp_path / "site"
    info = path / "gopipe_fake-1.4.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\n"
        "Name: gopipe-fake\n"
        "Version: 1.4\n"
        "Provides-Extra: teams\n"
        "Provides-Extra: basic\n"
        "Requires-Dist: pluggy>=1\n"
        'Requires-Dist: gopipe-fake-teams-client>=2; extra == "teams"\n'
        'Requires-Dist: pluggy>=1; extra == "basic"\n'
    )
    monkeypatch.syspath_prepend(str(path))
    return path


def problem(tmp_path: Path, *requires: str) -> str | None:
    try:
        check_requires(load_config(repo_with(tmp_path, *requires)))
    except ConfigError as exc:
        return str(exc)
    return None


@pytest.mark.usefixtures("site")
@pytest.mark.parametrize(
    "requires",
    [
        ("gopipe-fake",),
        ("gopipe-fake>=1.2",),
        ("gopipe-fake>=1.4,<2",),
        ("GOPIPE_Fake==1.4",),  # names compare normalised, as pip compares them
        ("gopipe-fake[basic]>=1",),
        ("gopipe-fake>=9; python_version < '3'",),  # a marker that does not apply here
        ("pluggy>=1", "gopipe-fake"),
    ],
)
def test_satisfied_requirements_pass(tmp_path: Path, requires: tuple[str, ...]) -> None:
    assert problem(tmp_path, *requires) is None


@pytest.mark.usefixtures("site")
@pytest.mark.parametrize(
    ("requires", "message"),
    [
        (("gopipe-nothere>=1.2",), "'gopipe-nothere>=1.2' is not satisfied: gopipe-nothere is not installed"),
        (("gopipe-fake>=1.5",), "'gopipe-fake>=1.5' is not satisfied: gopipe-fake 1.4 is installed"),
        (("pluggy", "gopipe-fake<1"), "'gopipe-fake<1' is not satisfied: gopipe-fake 1.4 is installed"),
        (
            ("gopipe-fake[teams]",),
            "gopipe-fake-teams-client is not installed (needed by gopipe-fake[teams])",
        ),
    ],
)
def test_unmet_requirements_name_the_requirement_and_the_fix(
    tmp_path: Path, requires: tuple[str, ...], message: str
) -> None:
    error = problem(tmp_path, *requires)
    assert error is not None and message in error, error
    unmet = next(r for r in requires if r.split("[")[0].split(">")[0].split("<")[0] in message)
    assert "tool.gopipe.requires" in error and f"(fix: pip install '{unmet}')" in error


def test_an_invalid_requirement_names_its_index(tmp_path: Path) -> None:
    error = problem(tmp_path, "pluggy", "gopipe foo >> 1")
    assert error is not None and "tool.gopipe.requires[1]: invalid requirement 'gopipe foo >> 1'" in error


def test_requires_is_a_list_of_unique_strings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="requires"):
        load_config(repo_with(tmp_path, "pluggy", "pluggy"))


def test_a_run_with_an_unmet_requirement_stops_with_exit_2_before_selection(
    tmp_path: Path, gopipe_run: Callable[..., RunResult], capsys: pytest.CaptureFixture[str]
) -> None:
    # No go.mod and an unknown provider: selection would fail too, and Go would be required;
    # the requirement is what the user must fix first, so it is what the run reports.
    repo = repo_with(tmp_path, "gopipe-nothere>=1.2")
    with (repo / "pyproject.toml").open("a") as fh:
        fh.write('\n[tool.gopipe.lint]\nproviders = ["nothere-lint"]\n')
    result = gopipe_run(repo, "lint")
    assert result.exit_code == 2
    err = capsys.readouterr().err
    assert (
        "tool.gopipe.requires: 'gopipe-nothere>=1.2' is not satisfied: gopipe-nothere is not installed" in err
    )
    assert "(fix: pip install 'gopipe-nothere>=1.2')" in err
    assert "Traceback" not in err
    assert result.report, "the report is still written"
    assert result.report["exit_code"] == 2
