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
from gopipe.github.workflow import render_workflows

_DIFF_LINES = 40


@dataclass
class Outcome:
    """What ``gopipe init --github [--check]`` did: lines for the user and an exit code."""

    lines: list[str] = field(default_factory=list)
    exit_code: int = 0


def expected_workflows(root: Path, config_file: Path | None = None) -> dict[Path, str]:
    """Render the workflows for the repository at ``root``."""
    config = load_config(root, config_file)
    git = read_git_info(config.root)
    return render_workflows(config, git.default_branch)


def write_workflows(root: Path, config_file: Path | None = None) -> Outcome:
    """Write each workflow whose content differs; leave identical files untouched."""
    outcome = Outcome()
    for rel, text in expected_workflows(root, config_file).items():
        path = root / rel
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
    outcome = Outcome()
    for rel, text in expected_workflows(root, config_file).items():
        path = root / rel
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
