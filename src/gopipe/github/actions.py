"""The GitHub actions gopipe's workflows use, pinned by full commit SHA.

A tag such as ``@v4`` can be moved to other code after review; a 40-hex commit SHA
cannot. gopipe cannot ask GitHub which commit a tag points at (it runs offline and must
produce the same file every time), so this module keeps a table of known pins.

The SHAs below are the commits those release tags pointed at when this table was
written; they were cross-checked against many public workflows that pin the same tags,
not fetched from GitHub. Projects that need a newer release (or distrust the table)
override any entry in ``[tool.gopipe.github.actions]``::

    [tool.gopipe.github.actions."actions/checkout"]
    sha = "<40 hex digits>"
    version = "v4.2.2"

and Dependabot's ``github-actions`` ecosystem can keep the generated pins current once
the override is in place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from gopipe.config import doc

SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class ActionPin:
    """One action at one commit; ``version`` is the release tag shown as a comment."""

    sha: str = doc("full 40-hex commit SHA of the action's release")
    version: str = doc("the release tag that commit carries, e.g. v4.2.2")


# action (owner/repo[/path]) -> pin. Sub-actions (actions/cache/restore) share their
# repository's pin and are resolved through it.
KNOWN_PINS: Mapping[str, ActionPin] = {
    "actions/checkout": ActionPin("11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "actions/setup-go": ActionPin("d35c59abb061a4a6fb18e82ac0862c26744d6ab5", "v5.5.0"),
    "actions/setup-python": ActionPin("a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
    "actions/cache": ActionPin("5a3ec84eff668545956fd18022155c47e93e2684", "v4.2.3"),
    "actions/upload-artifact": ActionPin("ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
    "actions/download-artifact": ActionPin("d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0"),
    "aws-actions/configure-aws-credentials": ActionPin("b47578312673ae6fa5b5096b330d9fbac3d116df", "v4.2.1"),
}


def repository_of(action: str) -> str:
    """``actions/cache/restore`` → ``actions/cache``: pins belong to repositories."""
    return "/".join(action.split("/")[:2])


def pin_for(action: str, overrides: Mapping[str, ActionPin]) -> ActionPin:
    repo = repository_of(action)
    pin = overrides.get(repo) or KNOWN_PINS.get(repo)
    if pin is None:
        raise KeyError(f"no pinned commit for {repo}; add it to [tool.gopipe.github.actions]")
    return pin


def uses(action: str, overrides: Mapping[str, ActionPin]) -> tuple[str, str]:
    """``(owner/repo@<sha>, vX.Y.Z)`` for a ``uses:`` line and its version comment."""
    pin = pin_for(action, overrides)
    return f"{action}@{pin.sha}", pin.version
