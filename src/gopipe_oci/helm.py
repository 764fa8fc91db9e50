"""Helm charts as OCI artifacts, the way ``helm push`` stores them.

A chart is an image manifest whose config blob is the chart's metadata as JSON
(``application/vnd.cncf.helm.config.v1+json``) and whose one layer is the packaged chart
(``application/vnd.cncf.helm.chart.content.v1.tar+gzip``), tagged with the chart version
(``+`` written as ``_``, as Helm does). ``helm pull oci://host/repo --version V`` reads it back.
The layout is written first and pushed with :func:`.registry.push_layout`, so a chart gets the
same HEAD-before-upload, retries and read-back verification as an image.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .digest import MEDIA_TYPE_MANIFEST
from .layout import REF_NAME, Descriptor, LayoutWriter
from .registry import PushResult, RegistryClient, push_layout

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def chart_tag(version: str) -> str:
    """The tag Helm gives a chart version: OCI tags cannot hold ``+``."""
    return version.replace("+", "_")


def write_chart_layout(
    package: Path, metadata: Mapping[str, Any], output: Path, *, annotations: Mapping[str, str] | None = None
) -> Descriptor:
    """An OCI layout at ``output`` holding the chart ``package`` (a .tgz) under its version tag."""
    version = str(metadata["version"])
    writer = LayoutWriter(output)
    try:
        config = writer.add_bytes(json.dumps(dict(metadata), sort_keys=True).encode(), HELM_CONFIG)
        layer = writer.copy_file(package, HELM_CHART)
        manifest: dict[str, object] = {
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_MANIFEST,
            "config": config.to_json(),
            "layers": [layer.to_json()],
        }
        if annotations:
            manifest["annotations"] = dict(annotations)
        desc, _ = writer.add_json(manifest, MEDIA_TYPE_MANIFEST)
        writer.commit([Descriptor(desc.media_type, desc.digest, desc.size, {REF_NAME: chart_tag(version)})])
    except BaseException:
        writer.abort()
        raise
    return desc


def push_chart(
    package: Path,
    metadata: Mapping[str, Any],
    target: str,
    *,
    client: RegistryClient | None = None,
    annotations: Mapping[str, str] | None = None,
) -> PushResult:
    """Push the chart to ``host/repo`` (the chart's name is the last part, as ``helm push`` does)."""
    with tempfile.TemporaryDirectory(prefix="gopipe-chart-") as tmp:
        layout = Path(tmp) / "layout"
        write_chart_layout(package, metadata, layout, annotations=annotations)
        return push_layout(layout, target, tags=[chart_tag(str(metadata["version"]))], client=client)
