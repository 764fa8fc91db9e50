"""Write the generated workflows, or check that the committed ones are current.

``--check`` is meant for CI: it exits 1 naming each stale or missing file (with a short
diff), so a config change that was not followed by ``gopipe init --github`` fails the
build instead of silently running an outdated pipeline.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from gopipe.config import load_config
from gopipe.git import read_git_info
from gopipe.github.workflow import render_workflows, repository_root

_DIFF_LINES = 40


@dataclass
class Outcome:
    """What ``gopipe init --github [--check]`` did: lines for the user and an exit code."""

    lines: list[str] = field(default_factory=list)
    exit_code: int = 0


def expected_workflows(root: Path, config_file: Path | None = None) -> tuple[Path, dict[Path, str]]:
    """The git repository's root and the workflows (relative to it) for the module at ``root``.

    GitHub reads workflows only from the repository root's ``.github/workflows``, so a module
    in a subdirectory gets its files there, not next to its pyproject.toml.
    """
    config = load_config(root, config_file)
    git = read_git_info(config.root)
    return repository_root(config.root), render_workflows(config, git.default_branch)


def _where(repo: Path, root: Path) -> list[str]:
    if repo == root.resolve():
        return []
    return [f"the module is in a subdirectory: workflows go to the git repository's root {repo}"]


def write_workflows(root: Path, config_file: Path | None = None) -> Outcome:
    """Write each workflow whose content differs; leave identical files untouched."""
    repo, files = expected_workflows(root, config_file)
    outcome = Outcome(lines=_where(repo, root))
    for rel, text in files.items():
        path = repo / rel
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            outcome.lines.append(f"{rel} is up to date")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        path.write_text(text, encoding="utf-8")
        outcome.lines.append(f"{'updated' if existed else 'wrote'} {rel}")
    return outcome


def check_workflows(root: Path, config_file: Path | None = None) -> Outcome:
    """Exit code 1 and one line per stale or missing workflow; 0 when all are current."""
    repo, files = expected_workflows(root, config_file)
    outcome = Outcome(lines=_where(repo, root))
    for rel, text in files.items():
        path = repo / rel
        if not path.is_file():
            outcome.lines.append(f"{rel} is missing (run: gopipe init --github)")
            outcome.exit_code = 1
            continue
        current = path.read_text(encoding="utf-8")
        if current == text:
            outcome.lines.append(f"{rel} is up to date")
            continue
        outcome.exit_code = 1
        outcome.lines.append(
            f"{rel} is stale: it differs from what [tool.gopipe] generates (run: gopipe init --github)"
        )
        diff = list(
            difflib.unified_diff(
                current.splitlines(),
                text.splitlines(),
                f"{rel} (committed)",
                f"{rel} (generated)",
                lineterm="",
            )
        )
        outcome.lines.extend(diff[:_DIFF_LINES])
        if len(diff) > _DIFF_LINES:
            outcome.lines.append(f"… {len(diff) - _DIFF_LINES} more diff lines")
    return outcome
