#!/usr/bin/env python3
"""Run the unit tier (``pytest -m "not slow"``) with Go and every service binary hidden.

PATH is a fresh directory holding only Python, git, a shell and a few coreutils, so a
test that needs Go, a Go tool, a registry, dockerd, buildah, promtool … fails here
instead of silently working on a fully equipped machine. Such a test needs the ``slow``
marker. Extra arguments go to pytest::

    python scripts/unit_tier.py            # the whole unit tier
    python scripts/unit_tier.py tests/core -x
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# fmt: off
TOOLS = (
    "git", "sh", "bash", "env", "cat", "echo", "true", "false", "ls", "mkdir", "rm", "cp", "mv",
    "chmod", "ln", "touch", "date", "uname", "id", "sleep", "head", "tail", "sed", "grep", "tr",
    "wc", "sort", "cut", "find", "xargs", "dirname", "basename", "readlink", "stat", "tee", "tar", "gzip",
)
# fmt: on


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="gopipe-unit-path-") as tmp:
        bin_dir = Path(tmp)
        for name in ("python", "python3"):  # a wrapper, not a symlink: a venv stays a venv
            wrapper = bin_dir / name
            wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
            wrapper.chmod(0o755)
        for name in TOOLS:
            found = shutil.which(name)
            if found is not None:
                (bin_dir / name).symlink_to(found)
        env = {**os.environ, "PATH": str(bin_dir)}
        cmd = [sys.executable, "-m", "pytest", "-m", "not slow", "-q", "-p", "no:cacheprovider", *argv]
        return subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
