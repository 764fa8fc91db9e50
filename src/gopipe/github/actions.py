"""The GitHub actions gopipe's workflows use, pinned by full commit SHA.

A tag such as ``@v5`` can be moved to other code after review; a 40-hex commit SHA
cannot. gopipe cannot ask GitHub which commit a tag points at (it runs offline and must
produce the same file every time), so this module keeps a table of known pins, each on
the newest release of the action's current major (all of them run on Node 24), and
:data:`PROVENANCE` says where each SHA came from.

Projects that need a newer release (or distrust the table) override any entry in
``[tool.gopipe.github.actions]``::

    [tool.gopipe.github.actions."actions/checkout"]
    sha = "<40 hex digits>"
    version = "v7.0.1"

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


# action (owner/repo[/path]) -> pin. Sub-actions (actions/cache/restore,
# github/codeql-action/upload-sarif) share their repository's pin and are resolved through it.
KNOWN_PINS: Mapping[str, ActionPin] = {
    "actions/checkout": ActionPin("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-go": ActionPin("b7ad1dad31e06c5925ef5d2fc7ad053ef454303e", "v7.0.0"),
    "actions/setup-python": ActionPin("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/cache": ActionPin("27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5"),
    "actions/upload-artifact": ActionPin("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ActionPin("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "aws-actions/configure-aws-credentials": ActionPin("e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"),
    "github/codeql-action": ActionPin("8aad20d150bbac5944a9f9d289da16a4b0d87c1e", "v4.36.2"),
}

_SNAPSHOT = (
    "read from a stored copy of the action's public git repository: `git rev-parse {tag}^{{commit}}` "
    "(the tag, its major tag {major} and the commit on the default branch all agree; newest commit "
    "in that copy {snapshot}), then `runs.using: node24` checked in its action.yml. Not checked "
    "live against GitHub: a release newer than that copy is not known here."
)

#: Where each pin came from, so a reviewer knows what was verified and what was not.
PROVENANCE: Mapping[str, str] = {
    "actions/checkout": _SNAPSHOT.format(tag="v7.0.1", major="v7", snapshot="2026-07-22"),
    "actions/setup-go": _SNAPSHOT.format(tag="v7.0.0", major="v7", snapshot="2026-08-20"),
    "actions/setup-python": _SNAPSHOT.format(tag="v7.0.0", major="v7", snapshot="2026-07-24"),
    "actions/cache": _SNAPSHOT.format(tag="v5.0.5", major="v5", snapshot="2026-05-20"),
    "actions/upload-artifact": _SNAPSHOT.format(tag="v7.0.0", major="v7", snapshot="2026-03-01"),
    "actions/download-artifact": _SNAPSHOT.format(tag="v8.0.1", major="v8", snapshot="2026-05-04"),
    "aws-actions/configure-aws-credentials": _SNAPSHOT.format(
        tag="v6.2.3", major="v6", snapshot="2026-08-18"
    ),
    "github/codeql-action": _SNAPSHOT.format(tag="v4.36.2", major="v4", snapshot="2026-06-13")
    + " v4.36.2 is an annotated tag; the pin is the commit it points at (also on releases/v4).",
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
