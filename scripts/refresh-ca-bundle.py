#!/usr/bin/env python3
"""Refresh the CA bundle gopipe ships for its built-in ``static`` base image.

The bundle is Mozilla's CA list as packaged by the ``certifi`` wheel on PyPI. gopipe ships
a copy (``src/gopipe_oci/data/ca-certificates.crt``) instead of reading the installed
certifi, so an image's digest depends on the gopipe version, not on the machine. Usage::

    python scripts/refresh-ca-bundle.py 2026.10.19.post1

downloads that certifi wheel with pip (the ordinary client, no dependencies), takes
``certifi/cacert.pem`` from it and writes it with ``ca-certificates.json``: the package,
version, wheel file name and sha256, the bundle's sha256 and its licence. Review the diff
(``git diff --stat``; a changed bundle changes every static-base image digest), run
``tests/oci/test_ca_bundle.py`` and update the pinned digests it names, then commit.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "src" / "gopipe_oci" / "data"
MEMBER = "certifi/cacert.pem"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    version = argv[0]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--only-binary=:all:", "--dest", tmp, f"certifi=={version}",
            ],
            check=True,
        )  # fmt: skip
        (wheel,) = Path(tmp).glob("certifi-*.whl")
        wheel_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
        with zipfile.ZipFile(wheel) as zf:
            pem = zf.read(MEMBER)
        name = wheel.name
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        print(f"{MEMBER} in {name} holds no certificate", file=sys.stderr)
        return 1
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "ca-certificates.crt").write_bytes(pem)
    record = {
        "source": "pypi",
        "package": "certifi",
        "version": version,
        "wheel": name,
        "wheel_sha256": wheel_sha,
        "member": MEMBER,
        "sha256": hashlib.sha256(pem).hexdigest(),
        "certificates": pem.count(b"-----BEGIN CERTIFICATE-----"),
        "license": "MPL-2.0",
        "upstream": "Mozilla CA Certificate Program, packaged by certifi",
    }
    (DATA / "ca-certificates.json").write_text(json.dumps(record, indent=2) + "\n")
    count, digest = record["certificates"], record["sha256"]
    print(f"ca-certificates.crt: certifi {version}, {count} certificates, sha256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
