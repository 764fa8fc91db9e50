"""The project's name: the same wherever the repository is cloned.

Archive names, the default image repository and notifications use ``{project}``. The checkout
directory's name changes with where CI or a developer cloned it, so it is never used: the name
comes from the git remote's repository name, else the Go module path's last element (a
``/vN`` major-version suffix skipped), else ``"project"``.
"""

from __future__ import annotations

import re
from pathlib import Path

_MODULE = re.compile(r"^\s*module\s+\"?([^\s\"/]+(?:/[^\s\"]+)*)\"?\s*$", re.MULTILINE)
_MAJOR = re.compile(r"^v\d+$")


def project_name(root: Path, remote_url: str | None) -> str:
    """``github.com/acme/hello.git`` → ``hello``; ``module example.com/acme/hello/v2`` → ``hello``."""
    if remote_url:
        name = remote_url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")
        if name:
            return name
    module = module_path(root)
    if module:
        parts = [p for p in module.split("/") if p]
        if len(parts) > 1 and _MAJOR.match(parts[-1]):
            parts.pop()
        return parts[-1]
    return "project"


def module_path(root: Path) -> str | None:
    """The ``module`` line of ``root/go.mod``, if there is one."""
    try:
        text = (root / "go.mod").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = _MODULE.search(text)
    return match.group(1) if match else None
