"""The linters a repository already uses, found from its own config files.

A repository with a golangci-lint config (``.golangci.yml`` / ``.yaml`` / ``.toml`` /
``.json``) at the Go module's root, or else at the git repository's top, has chosen its
linters: when ``[tool.gopipe.lint] providers`` is not set, lint runs golangci-lint with that
file instead of gopipe's defaults. ``gopipe init`` writes the same choice into its table.

A config file is used only when it is a regular file inside the repository after symlinks
are resolved: a ``.golangci.yml`` that links out of the repository is never read.
"""

from __future__ import annotations

from pathlib import Path

from gopipe.git import work_tree_root

GOLANGCI_FILES = (".golangci.yml", ".golangci.yaml", ".golangci.toml", ".golangci.json")


def _candidates(root: Path) -> tuple[Path, list[Path]]:
    module = root.resolve()
    top = work_tree_root(module) or module
    found = [
        directory / name
        for directory in dict.fromkeys((module, top))
        for name in GOLANGCI_FILES
        if (directory / name).exists() or (directory / name).is_symlink()
    ]
    return top, found


def golangci_config(root: Path) -> Path | None:
    """The golangci-lint config the module at ``root`` uses (module root first, then the
    git top), resolved; ``None`` when there is none inside the repository."""
    top, found = _candidates(root)
    for candidate in found:
        resolved = candidate.resolve()
        if resolved.is_relative_to(top) and resolved.is_file():
            return resolved
    return None


def refused_golangci_configs(root: Path) -> list[Path]:
    """Config files that are there but not used: links out of the repository, non-files."""
    top, found = _candidates(root)
    return [c for c in found if not (c.resolve().is_relative_to(top) and c.resolve().is_file())]


def repo_lint_providers(root: Path) -> tuple[str, ...] | None:
    """The lint providers the repository's own config files ask for, or ``None``."""
    return ("golangci-lint",) if golangci_config(root) is not None else None
