"""Hostile values of the packagers' speed options (archive, oci-image): one-line config errors."""

from __future__ import annotations

import pytest
from tests.hostile.conftest import Sandbox

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("compression_level = 0", "compression_level"),
        ("compression_level = 10", "compression_level"),
        ("compression_level = -1", "compression_level"),
        ('compression_level = "fast"', "compression_level"),
        ("compression_level = 6.5", "compression_level"),
        ("parallel = -2", "parallel"),
        ('parallel = "all"', "parallel"),
    ],
    ids=[
        "level-0",
        "level-10",
        "level-negative",
        "level-text",
        "level-float",
        "parallel-neg",
        "parallel-text",
    ],
)
def test_bad_archive_speed_options_are_config_errors(sandbox: Sandbox, value: str, key: str) -> None:
    sandbox.config(
        f'targets = ["linux/amd64"]\n[tool.gopipe.package]\nproviders = ["archive"]\n'
        f"[tool.gopipe.package.archive]\n{value}\n"
    )
    outcome = sandbox.run("run", "package", "--plain")
    sandbox.check(outcome, code=2, says=f"tool.gopipe.package.archive.{key}")


@pytest.mark.parametrize("value", ["0", "10", '"best"'], ids=["level-0", "level-10", "level-text"])
def test_bad_image_compression_level_is_a_config_error(sandbox: Sandbox, value: str) -> None:
    sandbox.config(
        'targets = ["linux/amd64"]\n[tool.gopipe.package]\nproviders = ["oci-image"]\n'
        f"[tool.gopipe.package.oci-image]\ncompression_level = {value}\n"
    )
    outcome = sandbox.run("run", "package", "--plain")
    sandbox.check(outcome, code=2, says="tool.gopipe.package.oci-image.compression_level")
