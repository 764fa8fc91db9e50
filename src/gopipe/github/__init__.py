"""GitHub Actions workflows generated from ``[tool.gopipe]`` (``gopipe init --github``)."""

from gopipe.github.check import Outcome, check_workflows, expected_workflows, write_workflows
from gopipe.github.options import GithubOptions, load_github_options
from gopipe.github.workflow import CD_FILE, CI_FILE, WORKFLOW_DIR, render_workflows

__all__ = [
    "CD_FILE",
    "CI_FILE",
    "WORKFLOW_DIR",
    "GithubOptions",
    "Outcome",
    "check_workflows",
    "expected_workflows",
    "load_github_options",
    "render_workflows",
    "write_workflows",
]
