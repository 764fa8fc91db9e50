#!/usr/bin/env python3
"""The peer tools the benchmarks compare against, pinned and installed for benchmarks only.

GoReleaser and ko are Go programs; they are ``go install``ed at a fixed version into
gopipe's tool cache (keyed by Go version and tool version, the same place as staticcheck),
so a second benchmark run reuses them. Nothing here is used by gopipe itself or by CI.

    python benchmarks/tools.py          # install both, print their paths
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from gopipe.gotools import GoTool, GoToolchain

PEERS: dict[str, GoTool] = {
    t.name: t
    for t in (
        GoTool("goreleaser", "github.com/goreleaser/goreleaser/v2", "v2.15.1"),
        GoTool("ko", "github.com/google/ko", "v0.18.1"),
    )
}


def peer(name: str, root: Path | None = None) -> Path:
    """Path to the pinned peer tool ``name``, installing it on first use.

    ``go install`` names the binary after the module (``goreleaser``), not after the
    ``/v2`` suffix gopipe's tool cache would expect, so look for it by the tool's name.
    """
    go = GoToolchain(root or Path.cwd(), dict(os.environ))
    tool = PEERS[name]
    exe = go.tool_path(tool).parent / tool.name
    if not exe.is_file():
        go.tool(tool)
    return exe


def main() -> int:
    for name in PEERS:
        start = time.perf_counter()
        path = peer(name)
        print(f"{name:<11} {PEERS[name].version:<8} {path}  ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
