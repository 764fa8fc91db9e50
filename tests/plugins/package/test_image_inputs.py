"""What the oci-image packager records about the inputs of its base: the CA bundle's source."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.plugins.package.conftest import commit_all, write_package_config

from gopipe.testing import RunResult
from gopipe_oci.base import shipped_ca_bundle

pytestmark = pytest.mark.slow  # builds hello with Go


def test_the_image_artifact_records_the_shipped_ca_bundle(
    hello_repo: Path, gopipe_run: Callable[..., RunResult]
) -> None:
    write_package_config(hello_repo, '[tool.gopipe.package]\nproviders = ["oci-image"]\n', ("linux/amd64",))
    commit_all(hello_repo)
    result = gopipe_run(hello_repo, "package")
    assert result.exit_code == 0, result.report
    (image,) = [a for a in result.report["artifacts"] if a["kind"] == "image"]
    _, source = shipped_ca_bundle()
    recorded = image["extra"]["ca_bundle"]
    assert recorded["sha256"] == source.sha256
    assert recorded["origin"].startswith("pypi:certifi==") and recorded["wheel_sha256"]
