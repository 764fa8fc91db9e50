"""``{project}`` is the same wherever the repository is cloned."""

from __future__ import annotations

from pathlib import Path

import pytest

from gopipe.project import module_path, project_name


@pytest.mark.parametrize(
    ("remote", "name"),
    [
        ("https://github.com/acme/hello", "hello"),
        ("https://github.com/acme/hello.git", "hello"),
        ("https://gitlab.example.com/group/sub/api/", "api"),
        ("git@github.com:acme/widget.git", "widget"),
    ],
)
def test_name_from_the_remote(tmp_path: Path, remote: str, name: str) -> None:
    assert project_name(tmp_path / "clone-dir-name", remote) == name


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("example.com/acme/hello", "hello"),
        ("example.com/acme/hello/v2", "hello"),
        ('"example.com/quoted"', "quoted"),
        ("hello", "hello"),
    ],
)
def test_name_from_the_module_path(tmp_path: Path, module: str, name: str) -> None:
    checkout = tmp_path / "ci-runner-work-dir-123"
    checkout.mkdir()
    (checkout / "go.mod").write_text(f"// comment\nmodule {module}\n\ngo 1.24\n")
    assert project_name(checkout, None) == name


def test_never_the_directory_name(tmp_path: Path) -> None:
    checkout = tmp_path / "my-clone"
    checkout.mkdir()
    assert module_path(checkout) is None
    assert project_name(checkout, None) == "project"
