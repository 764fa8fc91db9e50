"""File names relative to the git repository, which may hold the Go module in a subdirectory.

gopipe runs in the module (``ctx.root``), so findings and test positions name files relative to
it. Code scanning, the JUnit reporters and Codecov resolve names against the checkout, the
repository's top directory; these helpers turn the one into the other.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from gopipe.git import work_tree_root


def repository_root(module_root: Path) -> Path:
    """The top of the git work tree holding the module; the module itself outside git."""
    return work_tree_root(module_root) or module_root.resolve()


def repository_path(file: str | Path, module_root: Path, repo_root: Path | None = None) -> str | None:
    """``file`` (relative to the module, or absolute) relative to the repository, with ``/``;
    None when it lies outside the repository (the module cache, GOROOT)."""
    repo = (repo_root or repository_root(module_root)).resolve()
    path = Path(file)
    full = path if path.is_absolute() else module_root / path
    try:
        rel = full.resolve().relative_to(repo)
    except ValueError:
        return None
    return PurePosixPath(*rel.parts).as_posix() if rel.parts else "."
