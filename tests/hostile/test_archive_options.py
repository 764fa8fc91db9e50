"""Hostile values of the packagers' speed options (archive, oci-image): one-line config errors,
and a base left by reference in one registry while the upload goes to another."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.harness.registry import Registry
from tests.hostile.conftest import Sandbox

from gopipe_oci import RegistryClient, build_image, push_layout

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


@pytest.mark.parametrize(
    "value",
    ['"mount"', '""', "true", '"Copy"', '"' + "r" * 5000 + '"', '["copy"]'],
    ids=["unknown", "empty", "bool", "case", "huge", "list"],
)
def test_bad_base_layers_is_a_config_error(sandbox: Sandbox, value: str) -> None:
    sandbox.config(
        'targets = ["linux/amd64"]\n[tool.gopipe.package]\nproviders = ["oci-image"]\n'
        f"[tool.gopipe.package.oci-image]\nbase_layers = {value}\n"
    )
    outcome = sandbox.run("run", "package", "--plain")
    sandbox.check(outcome, code=2, says="tool.gopipe.package.oci-image.base_layers")
    assert "r" * 200 not in outcome.output  # a huge value is not echoed back


def test_base_layers_by_reference_to_another_registry_fails_the_stage_clearly(
    sandbox: Sandbox, plain_registry: Registry, tmp_path: Path
) -> None:
    """The layout lacks the base layers and the upload goes elsewhere (here: the same registry
    spelled ``localhost`` instead of 127.0.0.1, which gopipe cannot know is the same): the push
    refuses with the reason, no traceback, nothing tagged."""
    tool = tmp_path / "tool"
    tool.write_bytes(b"#!/bin/true\n" * 20)
    base = build_image({"linux/amd64": tool}, tmp_path / "base", name="tool", epoch=1_700_000_000)
    client = RegistryClient(plain_registry.host, use_docker_config=False, plain_http=True)
    push_layout(base.layout, f"{plain_registry.host}/hostile/base:1", client=client)
    other = plain_registry.host.replace("127.0.0.1", "localhost")
    sandbox.config(
        'targets = ["linux/amd64"]\n[tool.gopipe.package]\nproviders = ["oci-image"]\n'
        f'[tool.gopipe.package.oci-image]\nbase = "{plain_registry.host}/hostile/base:1"\n'
        'insecure = true\nbase_layers = "reference"\n'
        '[tool.gopipe.upload]\nproviders = ["registry"]\n'
        f'[tool.gopipe.upload.registry]\nregistry = "{other}"\ninsecure = true\n'
        'repository = "hostile/app"\ntags = ["t"]\nlatest = false\n'
    )
    sandbox.commit()
    outcome = sandbox.run("run", "upload", "--plain", "--no-notify")
    sandbox.check(outcome, code=1, says="another registry")
    assert client.head_manifest("hostile/app", "t") is None
