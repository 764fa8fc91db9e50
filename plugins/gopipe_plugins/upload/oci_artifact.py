"""``oci-artifact`` uploader: archives, SBOMs and checksums as ORAS-style OCI artifacts.

For every image name, the release files that belong to it are pushed into the image's
repository as one artifact per kind (``archive``, ``sbom``, ``checksums``), tagged
``{version}-{kind}`` by default, with the image index as ``subject`` when this run built it
(the digest is known from the package stage, so the link does not depend on upload order).
``oras pull host/repo:1.2.3-sbom`` gets the files back under their original names; Harbor
and registries with the referrers API show them attached to the image.

Which image a file belongs to: ``sbom`` artifacts name their ``binary``, ``archive`` artifacts
list their ``binaries``; files that name none (``checksums.txt``) go to every image when the
run built exactly one, else to the ``{project}`` repository without subject.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from gopipe import hookimpl
from gopipe.artifacts import Artifact
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.errors import StageFailed
from gopipe.paths import artifact_file
from gopipe.types import Uploader
from gopipe_oci import (
    ArtifactFile,
    Descriptor,
    PushResult,
    RegistryClient,
    RegistryError,
    push_artifact,
    sanitize_tag,
)
from gopipe_plugins._common.registry_access import (
    RegistryAccess,
    connect,
    credentials,
    library_logs,
    register_tokens,
    resolve,
)
from gopipe_plugins.upload.image_push import render_repository

ARTIFACT_TYPES = {
    "archive": "application/vnd.gopipe.archive.v1",
    "sbom": "application/vnd.gopipe.sbom.v1",
    "checksums": "application/vnd.gopipe.checksums.v1",
}
INDEX = "application/vnd.oci.image.index.v1+json"


@dataclass(frozen=True)
class OciArtifactOptions(RegistryAccess):
    """Push archives/SBOMs/checksums as OCI artifacts next to the image (same registry options)."""

    CONFIG_KEY: ClassVar[str] = "tool.gopipe.upload.oci-artifact"

    repository: str = doc("repository template ({name} = the image/binary name)", "{project}/{name}")
    kinds: tuple[str, ...] = doc("artifact kinds to push", ("archive", "sbom", "checksums"))
    tag: str = doc("tag template per artifact ({kind} = archive, sbom or checksums)", "{version}-{kind}")


def media_type(art: Artifact, path: Path) -> str:
    """The layer media type a client needs to know what the file is."""
    name = path.name.lower()
    fmt = str(art.extra.get("format", "")).lower()
    if art.kind == "sbom":
        if "spdx" in fmt or ".spdx" in name:
            return "application/spdx+json"
        return "application/vnd.cyclonedx+json"
    if art.kind == "checksums":
        return "text/plain"
    if name.endswith((".tar.gz", ".tgz")):
        return "application/gzip"
    if name.endswith(".zip"):
        return "application/zip"
    return "application/octet-stream"


def owners(art: Artifact) -> list[str]:
    if art.extra.get("binary"):
        return [str(art.extra["binary"])]
    return [str(b) for b in art.extra.get("binaries") or []]


@dataclass(frozen=True)
class Group:
    name: str  # image name ({name} in the repository template)
    kind: str
    files: tuple[Artifact, ...]
    subject: Descriptor | None


def groups(ctx: ProviderContext[OciArtifactOptions]) -> list[Group]:
    images = {a.name: a for a in ctx.artifacts.of_kind("image") if a.extra.get("index_digest")}
    files: dict[tuple[str, str], list[Artifact]] = defaultdict(list)
    for kind in ctx.options.kinds:
        if kind not in ARTIFACT_TYPES:
            raise StageFailed(
                f"oci-artifact kinds: unknown kind {kind!r}; choose from {', '.join(ARTIFACT_TYPES)}"
            )
        for art in ctx.artifacts.of_kind(kind):
            if art.path is None:
                continue
            artifact_file(ctx.root, art)  # before anything connects: read only inside the repository
            names = [n for n in owners(art) if n in images] or (
                list(images) if len(images) == 1 else [ctx.render("{project}")]
            )
            for name in names:
                files[(name, kind)].append(art)
    out = []
    for (name, kind), arts in sorted(files.items()):
        image = images.get(name)
        subject = None
        if image is not None and image.extra.get("index_size"):
            subject = Descriptor(
                str(image.extra.get("media_type") or INDEX),
                str(image.extra["index_digest"]),
                int(image.extra["index_size"]),
            )
        out.append(Group(name, kind, tuple(arts), subject))
    return out


def push_group(ctx: ProviderContext[OciArtifactOptions], client: RegistryClient, group: Group) -> PushResult:
    opts = ctx.options
    repo = render_repository(ctx, opts.repository, group.name)
    tag = sanitize_tag(ctx.render(opts.tag, key="tag", name=group.name, kind=group.kind))
    files = []
    for art in group.files:
        path = artifact_file(ctx.root, art)
        files.append(ArtifactFile(path, media_type(art, path)))
    annotations = {"org.opencontainers.image.version": ctx.git.version}
    if ctx.git.sha != "none":
        annotations["org.opencontainers.image.revision"] = ctx.git.sha
    if ctx.git.remote_url:
        annotations["org.opencontainers.image.source"] = ctx.git.remote_url
    # created = commit time, so the artifact digest is reproducible like the image's
    annotations["org.opencontainers.image.created"] = ctx.git.date
    target = f"{client.registry}/{repo}"
    try:
        result = push_artifact(
            files,
            target,
            artifact_type=ARTIFACT_TYPES[group.kind],
            tags=[tag],
            annotations=annotations,
            subject=group.subject,
            client=client,
        )
    except (RegistryError, ValueError, OSError) as exc:
        raise StageFailed(f"push of {group.kind} artifact to {target}: {exc}") from None
    finally:
        register_tokens(ctx, client)
    ctx.add_artifact(
        "oci-artifact",
        f"{group.name}-{group.kind}",
        reference=f"{target}@{result.digest}",
        registry=client.registry,
        repository=target,
        digest=result.digest,
        tags=[tag],
        artifact_type=ARTIFACT_TYPES[group.kind],
        files=[Path(f.path).name for f in files],
        subject=group.subject.digest if group.subject else None,
        uploaded=result.uploaded,
        skipped=result.skipped,
    )
    ctx.log(
        f"{target}:{tag} ({group.kind}, {len(files)} files) -> {result.digest}; "
        f"{result.uploaded} blobs uploaded, {result.skipped} present"
    )
    return result


def run(ctx: ProviderContext[OciArtifactOptions]) -> None:
    opts = ctx.options
    todo = groups(ctx)
    if not todo:
        ctx.summary = "no archives, SBOMs or checksums to push"
        return
    host = resolve(ctx, opts.registry, "registry", required=True)
    uploaded = 0
    with library_logs(ctx), connect(ctx, opts, host, credentials(ctx, opts)) as client:
        for group in todo:
            uploaded += push_group(ctx, client, group).uploaded
    ctx.summary = (
        f"{len(todo)} artifacts ({', '.join(sorted({g.kind for g in todo}))}); {uploaded} blobs uploaded"
    )


@hookimpl
def gopipe_uploaders() -> list[Uploader[OciArtifactOptions]]:
    return [
        Uploader(
            name="oci-artifact",
            run=run,
            options=OciArtifactOptions,
            description="push archives, SBOMs and checksums as OCI artifacts next to the image",
        )
    ]
