"""``[tool.gopipe.github]``: how the generated workflows fan out and what they install.

Validated exactly like a provider's options (unknown keys with a did-you-mean, types,
no plaintext secrets), plus the cross-field rules a dataclass cannot express.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from gopipe.config import Config, doc, parse_options
from gopipe.errors import ConfigError
from gopipe.github.actions import SHA, ActionPin, repository_of

_SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PYTHON = re.compile(r"^3\.\d+(\.\d+)?$")
MAX_SHARDS = 256  # a GitHub matrix holds at most 256 jobs
KEY = "tool.gopipe.github"


@dataclass(frozen=True)
class GithubOptions:
    """Generated GitHub Actions workflows (``gopipe init --github``)."""

    test_shards: int = doc("run the test stage as N parallel matrix jobs (1 = one job)", 1)
    build_matrix: bool = doc("build each target in its own matrix job", False)
    python_version: str = doc("Python version for gopipe on the runner", "3.12")
    runs_on: str = doc("runner label for every job", "ubuntu-latest")
    gopipe_requirement: str = doc(
        "how the workflows install gopipe: an exact pin ('gopipe==0.1.0') or a direct reference "
        "('gopipe @ https://…/gopipe-0.1.0-py3-none-any.whl'); default: the gopipe version that "
        "generates them",
        "",
    )
    default_branch: str = doc(
        "branch whose pushes run cd; default: the repository's default branch, else 'main'", ""
    )
    aws_role: str = doc("IAM role ARN assumed through GitHub OIDC in cd (ECR); adds id-token: write", "")
    aws_region: str = doc("AWS region for the OIDC credentials", "")
    secrets: tuple[str, ...] = doc(
        "extra secret names passed as env vars to every step that runs stages "
        "(names referenced as { env = ... } in config are found automatically, "
        "and go only to the steps whose stages use them)",
        (),
    )
    timeout_minutes: int = doc("timeout of each job", 60)
    actions: dict[str, ActionPin] = doc(
        'override pinned actions: { "actions/checkout" = { sha = "…", version = "v4.2.2" } }',
        default_factory=dict,
    )


def load_github_options(config: Config) -> GithubOptions:
    """Parse and check ``[tool.gopipe.github]`` of ``config`` (defaults when absent)."""
    shown = config.display_file
    table = config.raw.get("github", {})
    if isinstance(table, Mapping) and "plugins" in table:
        raise ConfigError(
            shown,
            f"{KEY}.plugins",
            "plugin packages are now listed in [tool.gopipe] requires (checked before every run, "
            "installed by the workflows)",
            'move the list: requires = ["gopipe-foo>=1.2"] under [tool.gopipe]',
        )
    opts = parse_options(GithubOptions, config.raw.get("github", {}), file=shown, key=KEY, base=config.root)
    if not 1 <= opts.test_shards <= MAX_SHARDS:
        raise ConfigError(
            shown,
            f"{KEY}.test_shards",
            f"expected 1..{MAX_SHARDS}, got {opts.test_shards}",
            "set test_shards = 4 (1 disables sharding)",
        )
    if not 1 <= opts.timeout_minutes <= 360 * 24:
        raise ConfigError(
            shown,
            f"{KEY}.timeout_minutes",
            "expected a positive number of minutes",
            "set timeout_minutes = 60",
        )
    if not _PYTHON.match(opts.python_version):
        raise ConfigError(
            shown,
            f"{KEY}.python_version",
            f"invalid Python version {opts.python_version!r}",
            'set python_version = "3.12" (gopipe needs 3.10 or newer)',
        )
    if not opts.runs_on.strip():
        raise ConfigError(shown, f"{KEY}.runs_on", "empty runner label", 'set runs_on = "ubuntu-latest"')
    if bool(opts.aws_role) != bool(opts.aws_region):
        missing = "aws_region" if opts.aws_role else "aws_role"
        raise ConfigError(
            shown,
            f"{KEY}.{missing}",
            "aws_role and aws_region go together",
            f"set {missing} as well (OIDC needs both a role and a region)",
        )
    if opts.aws_role and not opts.aws_role.startswith("arn:"):
        raise ConfigError(
            shown,
            f"{KEY}.aws_role",
            f"not an IAM role ARN: {opts.aws_role!r}",
            'write aws_role = "arn:aws:iam::123456789012:role/gopipe-deploy"',
        )
    if opts.gopipe_requirement:
        _check_gopipe_requirement(opts.gopipe_requirement, shown)
    for i, name in enumerate(opts.secrets):
        if not _SECRET_NAME.match(name):
            raise ConfigError(
                shown,
                f"{KEY}.secrets[{i}]",
                f"invalid secret name {name!r}",
                "use letters, digits and underscores, e.g. SLACK_WEBHOOK_URL",
            )
    for action, pin in opts.actions.items():
        if action.count("/") != 1 or repository_of(action) != action:
            raise ConfigError(
                shown,
                f"{KEY}.actions.{action}",
                "expected an owner/repo name",
                'write [tool.gopipe.github.actions."actions/checkout"]',
            )
        if not SHA.match(pin.sha):
            raise ConfigError(
                shown,
                f"{KEY}.actions.{action}.sha",
                f"not a full commit SHA: {pin.sha!r}",
                "pin the 40-hex commit the release tag points at",
            )
    return opts


def _check_gopipe_requirement(text: str, shown: str) -> None:
    """Generated workflows must install one known gopipe, never whatever is newest."""
    key, fix = (
        f"{KEY}.gopipe_requirement",
        'remove it (the default pins this gopipe) or write "gopipe==0.1.0"',
    )
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        raise ConfigError(shown, key, f"invalid requirement {text!r}: {exc}", fix) from None
    if canonicalize_name(requirement.name) != "gopipe":
        raise ConfigError(shown, key, f"{text!r} does not install gopipe", fix)
    exact = len(requirement.specifier) == 1 and next(iter(requirement.specifier)).operator in ("==", "===")
    if not (requirement.url or (exact and "*" not in str(requirement.specifier))):
        raise ConfigError(shown, key, f"{text!r} is not an exact version", fix)
