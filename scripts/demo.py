#!/usr/bin/env python3
"""`nox -s demo`: CI, then CD, of examples/hello with embedded defaults and no account anywhere.

1. `gopipe run ci`: lint, test, coverage, build (Go toolchain + pinned linters, installed
   on first use).
2. `gopipe run package upload`: a reproducible multi-arch OCI image, archives, checksums and
   SBOMs, pushed to Debian's docker-registry started on 127.0.0.1 with a self-signed TLS
   certificate and htpasswd auth. Without docker-registry installed, the image stays an OCI
   layout under dist/oci/ (`gopipe run package`).
Deploy needs a Kubernetes cluster; `scripts/k8s-testenv` starts a local one (docs/deploy.md).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "hello"
sys.path.insert(0, str(ROOT))


def main(argv: list[str]) -> int:
    from gopipe.cli import main as gopipe

    code = gopipe(["run", "ci", "-C", str(EXAMPLE), *argv])
    if code != 0:
        return code
    try:
        from tests.harness.registry import start_registry
    except ImportError as exc:  # the registry harness needs scripts/deps/pip-demo.txt
        return _layout_only(gopipe, argv, f"{exc.name} is missing (pip install -r scripts/deps/pip-demo.txt)")
    if shutil.which("docker-registry") is None:
        return _layout_only(
            gopipe, argv, "docker-registry is not installed (apt-get install docker-registry)"
        )

    from scripts.demo_env import demo_env

    with (
        tempfile.TemporaryDirectory(prefix="gopipe-demo-") as tmp,
        start_registry(Path(tmp), tls=True, auth=True) as registry,
    ):
        print(f"\nregistry on https://{registry.host} (TLS, htpasswd user {registry.username})")
        os.environ.update(demo_env(registry))
        code = gopipe(["run", "package", "upload", "-C", str(EXAMPLE), *argv])
    print(f"\noutputs: {EXAMPLE / 'dist'} (report: dist/gopipe/report.json)")
    return code


def _layout_only(gopipe: Callable[[list[str]], int], argv: list[str], why: str) -> int:
    print(f"\n{why}: building the image as an OCI layout only (dist/oci/)")
    return gopipe(["run", "package", "-C", str(EXAMPLE), *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
