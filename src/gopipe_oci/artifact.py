"""ORAS-style OCI artifacts: archives, SBOMs and checksum files pushed next to an image.

An artifact is an image manifest with ``artifactType``, the empty config
(``application/vnd.oci.empty.v1+json``, the two bytes ``{}``) and one layer per file carrying an
``org.opencontainers.image.title`` annotation, which is what ``oras pull`` uses as the file name.
Artifacts are written to an OCI layout first and pushed with :func:`.registry.push_layout`,
so they get the same HEAD-before-upload, retry and verification behaviour as images.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .digest import MEDIA_TYPE_EMPTY, MEDIA_TYPE_MANIFEST
from .layout import REF_NAME, Descriptor, LayoutWriter
from .registry import PushResult, RegistryClient, push_layout

TITLE = "org.opencontainers.image.title"
EMPTY_CONFIG = b"{}"


@dataclass(frozen=True)
class ArtifactFile:
    """One file of an artifact; *title* defaults to the file name."""

    path: Path
    media_type: str = "application/octet-stream"
    title: str = ""


@dataclass(frozen=True)
class ArtifactResult:
    layout: Path
    digest: str
    size: int
    layers: tuple[Descriptor, ...]


def write_artifact(
    files: Sequence[Path | ArtifactFile],
    output: Path,
    *,
    artifact_type: str,
    annotations: Mapping[str, str] | None = None,
    subject: Descriptor | None = None,
    ref_names: Sequence[str] = ("latest",),
) -> ArtifactResult:
    """Write an artifact manifest and its files into an OCI layout at *output*.

    Layers are sorted by title and no timestamp is added unless given in *annotations*, so
    the same files give the same digest. *subject* links the artifact to an image (referrers).
    """
    items = [f if isinstance(f, ArtifactFile) else ArtifactFile(f) for f in files]
    titled = sorted(((f.title or f.path.name, f) for f in items), key=lambda t: t[0])
    titles = [t for t, _ in titled]
    if len(set(titles)) != len(titles):
        raise ValueError(f"duplicate artifact titles: {titles}")
    writer = LayoutWriter(output)
    try:
        config = writer.add_bytes(EMPTY_CONFIG, MEDIA_TYPE_EMPTY)
        layers = tuple(
            writer.copy_file(f.path, f.media_type, annotations={TITLE: title}) for title, f in titled
        )
        manifest: dict[str, object] = {
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_MANIFEST,
            "artifactType": artifact_type,
            "config": {**config.to_json(), "data": "e30="},
            "layers": [la.to_json() for la in layers],
        }
        if subject is not None:
            manifest["subject"] = subject.to_json()
        if annotations:
            manifest["annotations"] = dict(annotations)
        desc, _ = writer.add_json(manifest, MEDIA_TYPE_MANIFEST, artifact_type=artifact_type)
        writer.commit(
            [
                Descriptor(
                    desc.media_type,
                    desc.digest,
                    desc.size,
                    {REF_NAME: n},
                    artifact_type=artifact_type,
                )
                for n in ref_names
            ]
            or [desc]
        )
    except BaseException:
        writer.abort()
        raise
    return ArtifactResult(output, desc.digest, desc.size, layers)


def push_artifact(
    files: Sequence[Path | ArtifactFile],
    target: str,
    *,
    artifact_type: str,
    tags: Sequence[str] = (),
    annotations: Mapping[str, str] | None = None,
    subject: Descriptor | None = None,
    client: RegistryClient | None = None,
) -> PushResult:
    """Build an artifact in a temporary layout and push it to ``host/repo[:tag]``."""
    with tempfile.TemporaryDirectory(prefix="gopipe-artifact-") as tmp:
        layout = Path(tmp) / "layout"
        write_artifact(
            files,
            layout,
            artifact_type=artifact_type,
            annotations=annotations,
            subject=subject,
            ref_names=(),
        )
        return push_layout(layout, target, tags=tags, client=client)
