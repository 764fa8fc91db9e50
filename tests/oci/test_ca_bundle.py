"""The static base's CA bundle comes with gopipe, so image digests do not depend on the machine.

Before, the bundle was the *installed* certifi's ``cacert.pem``: the same commit gave
different index digests on machines with different certifi versions. The pinned
``diff_id`` below is the uncompressed base layer, a function of the shipped bundle and the
fixed base files only (not of the gzip implementation); it changes exactly when
``scripts/refresh-ca-bundle.py`` refreshes the bundle, and must then be updated here.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from gopipe_oci import StaticBase, build_image
from gopipe_oci.base import CA_BUNDLE, shipped_ca_bundle
from gopipe_oci.platforms import Platform

from .conftest import EPOCH

REPO = Path(__file__).resolve().parents[2]
SHIPPED_VERSION = "2026.10.19.post1"
BASE_DIFF_ID = "sha256:29968caa8b43da71cfcce1fc169b82a93ef84633c048257fff15410becb3a24e"


def test_the_shipped_bundle_matches_its_record() -> None:
    path, source = shipped_ca_bundle()
    record = json.loads((path.parent / "ca-certificates.json").read_text())
    data = path.read_bytes()
    assert record["sha256"] == hashlib.sha256(data).hexdigest() == source.sha256
    assert record["certificates"] == data.count(b"-----BEGIN CERTIFICATE-----") > 100
    assert (record["package"], record["version"]) == ("certifi", SHIPPED_VERSION)
    assert record["license"] == "MPL-2.0"
    assert len(record["wheel_sha256"]) == 64 and record["wheel"].startswith(f"certifi-{SHIPPED_VERSION}-")
    assert source.origin == f"pypi:certifi=={SHIPPED_VERSION} (shipped with gopipe)"
    assert source.to_json()["version"] == SHIPPED_VERSION


def test_the_static_base_layer_is_pinned(tmp_path: Path) -> None:
    (resolved,) = StaticBase().resolve([Platform.parse("linux/amd64")], tmp_path).values()
    (layer,) = resolved.layers
    assert layer.diff_id == BASE_DIFF_ID
    assert f"certifi {SHIPPED_VERSION}" in resolved.description


_BUILD = """
import json, sys
from pathlib import Path
from gopipe_oci import build_image
bins = {p: Path(f) for p, f in json.loads(sys.argv[1]).items()}
res = build_image(bins, Path(sys.argv[2]), name="hello", epoch=int(sys.argv[3]), version="1.2.3")
print(res.index_digest)
"""


def test_the_image_digest_does_not_depend_on_the_installed_certifi(
    fake_binaries: dict[str, Path], tmp_path: Path
) -> None:
    """Build the same image in a Python whose ``certifi`` is another version with another
    bundle (a stand-in package first on the path): the index digest must not move."""
    fake = tmp_path / "fake-certifi" / "certifi"
    fake.mkdir(parents=True)
    pem = fake / "cacert.pem"
    pem.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n")
    (fake / "__init__.py").write_text(
        f"__version__ = '1999.01.01'\ndef where():\n    return {str(pem)!r}\ncontents = lambda: ''\n"
    )
    bins = {p: str(f) for p, f in fake_binaries.items() if p in ("linux/amd64", "linux/arm64")}
    here = build_image(
        {p: Path(f) for p, f in bins.items()}, tmp_path / "here", name="hello", epoch=EPOCH, version="1.2.3"
    )
    path = os.pathsep.join([str(fake.parent), str(REPO / "src"), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    check = subprocess.run(
        [sys.executable, "-c", "import certifi; print(certifi.__version__)"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert check.stdout.strip() == "1999.01.01"  # the stand-in is the certifi that Python sees
    there = subprocess.run(
        [sys.executable, "-c", _BUILD, json.dumps(bins), str(tmp_path / "there"), str(EPOCH)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert there.stdout.strip() == here.index_digest
    assert CA_BUNDLE.read_bytes() != pem.read_bytes()
