"""Hostile values of ``oci-image``'s ``binaries`` (several binaries in one image): each one is a
one-line config error (exit 2) naming the key, with nothing written outside the repository."""

from __future__ import annotations

import pytest
from tests.hostile.conftest import Sandbox

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ('binaries = ["hostile", "nope"]\nentrypoint = ["/x"]', "oci-image.binaries"),
        ('binaries = ["../../etc/passwd"]', "oci-image.binaries"),
        ('binaries = ["hostile", "hostile"]\nentrypoint = ["/x"]', "oci-image.binaries"),
        ('binaries = ["hostile", "other"]', "oci-image.entrypoint"),
        ('binaries = ["a", "b"]\nentrypoint = ["/a"]\nbinary_path = "/bin/app"', "oci-image.binary_path"),
        ('binaries = "hostile"', "oci-image.binaries"),
        ("binaries = [1, 2]", "oci-image.binaries"),
        ('binaries = ["x\\u0000y"]', "oci-image.binaries"),
    ],
    ids=["unknown", "traversal", "twice", "no-entrypoint", "one-path", "not-a-list", "numbers", "nul"],
)
def test_bad_image_binaries_are_config_errors(sandbox: Sandbox, options: str, key: str) -> None:
    sandbox.config(
        'targets = ["linux/amd64"]\n[tool.gopipe.package]\nproviders = ["oci-image"]\n'
        f'[tool.gopipe.package.oci-image]\nbase = "scratch"\n{options}\n'
    )
    outcome = sandbox.run("run", "package", "--plain")
    sandbox.check(outcome, code=2, says=f"tool.gopipe.package.{key}")
