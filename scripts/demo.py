#!/usr/bin/env python3
"""`nox -s demo`: CI then CD of examples/hello, against a registry started on loopback.

Everything is local: the Go toolchain, the pinned linters (installed on first use), and,
for the CD half, Debian's docker-registry started on 127.0.0.1 with TLS and htpasswd.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "hello"


def main(argv: list[str]) -> int:
    from gopipe.cli import main as gopipe

    code = gopipe(["run", "ci", "-C", str(EXAMPLE), *argv])
    if code != 0:
        return code
    print(f"\nCI outputs: {EXAMPLE / 'dist'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
