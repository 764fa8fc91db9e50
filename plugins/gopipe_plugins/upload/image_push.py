"""Pushing the package stage's ``image`` artifacts and recording ``image-ref`` artifacts.

Shared by ``registry``, ``harbor`` and ``ecr``: they differ in how they find the registry and
its credentials and in what they do around the push (projects, repositories, scans), not in
the push itself.

Which images are pushed: every ``image`` artifact with an OCI layout (``extra.layout``), i.e.
the ``oci-image`` packager's. Images that exist only inside a Docker daemon or buildah store
(``docker``/``buildah`` packagers without a layout) are skipped with a note: they are usually
a second build of the same binaries under the same name, and pushing both would race for the
same tags. A packager that wants its image uploaded exports an OCI layout and records it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gopipe.artifacts import Artifact
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.errors import StageFailed
from gopipe.paths import artifact_file
from gopipe_oci import Layout, PushResult, RegistryClient, RegistryError, push_layout, sanitize_tag
from gopipe_plugins._common.registry_access import RegistryAccess, register_tokens


@dataclass(frozen=True)
class TagOptions:
    """Where images go inside a registry. Templates: {project} {name} {version} {commit}
    {short_commit} {branch} {tag} {date} {timestamp}; {name} is the image (binary) name."""

    repository: str = doc("repository template", "{project}/{name}")
    tags: tuple[str, ...] = doc("tag templates", ("{version}", "{short_commit}"))
    latest: bool = doc("also tag 'latest' when the commit is on the default branch", True)


@dataclass(frozen=True)
class RegistryOptions(RegistryAccess, TagOptions):
    """Push OCI images to any distribution registry."""


def on_default_branch(ctx: ProviderContext[Any]) -> bool:
    git = ctx.git
    return bool(git.branch) and git.branch == git.default_branch


def render_tags(
    ctx: ProviderContext[Any], opts: TagOptions, name: str, *, allow_latest: bool = True
) -> list[str]:
    """Tags for image *name*, rendered, sanitised and de-duplicated in config order."""
    out: list[str] = []
    templates = list(opts.tags)
    if opts.latest and allow_latest and on_default_branch(ctx):
        templates.append("latest")
    for template in templates:
        rendered = ctx.render(template, key="tags", name=name)
        tag = sanitize_tag(rendered)
        if not tag:
            continue
        if tag != rendered:
            ctx.log(f"tag {rendered!r} is not a valid OCI tag; using {tag!r}")
        if tag not in out:
            out.append(tag)
    return out


def render_repository(ctx: ProviderContext[Any], template: str, name: str) -> str:
    repo = ctx.render(template, key="repository", name=name).strip("/").lower()
    if not re.fullmatch(
        r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*", repo
    ):
        raise StageFailed(f"repository {repo!r} (from {template!r}) is not a valid OCI repository name")
    return repo


def pushable_images(ctx: ProviderContext[Any]) -> list[Artifact]:
    """``image`` artifacts that carry an OCI layout; notes the others in the log."""
    images: list[Artifact] = []
    for art in ctx.artifacts.of_kind("image"):
        layout = art.extra.get("layout")
        if layout and (artifact_file(ctx.root, art, field="layout") / "index.json").is_file():
            images.append(art)
        else:
            builder = art.extra.get("builder") or art.provider or "?"
            ctx.log(
                f"skipping image {art.name} from {builder}: it has no OCI layout to push "
                f"(only images built by oci-image, or with extra.layout, are uploaded)"
            )
    return images


@dataclass(frozen=True)
class Pushed:
    """One image in a registry, verified by digest."""

    image: Artifact
    registry: str
    repository: str
    digest: str
    tags: tuple[str, ...]
    result: PushResult | None

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.repository}@{self.digest}"


def push_image(
    ctx: ProviderContext[Any],
    client: RegistryClient,
    image: Artifact,
    repository: str,
    tags: Sequence[str],
    translate: Callable[[RegistryError, str], StageFailed | None] | None = None,
) -> Pushed:
    """Push one image's layout; tags already serving the digest are not re-PUT.

    Raises :class:`StageFailed` naming the image, registry and repository when the push fails
    (after the client's retries) or the registry serves another digest afterwards.
    """
    layout = artifact_file(ctx.root, image, field="layout")
    expected = str(image.extra.get("index_digest") or Layout(layout).resolve().digest)
    where = f"{client.registry}/{repository}"
    ctx.progress(f"pushing {image.name} to {where}")
    try:
        todo = [t for t in tags if client.head_manifest(repository, t) != expected]
        result = push_layout(
            layout,
            where,
            tags=todo,
            client=client,
            ref_name=_ref_name(layout, expected),
            blob_sources=dict(image.extra.get("blob_sources") or {}),
        )
    except RegistryError as exc:
        mapped = translate(exc, repository) if translate else None
        raise (mapped or StageFailed(f"push of {image.name} to {where} failed: {exc}")) from None
    finally:
        register_tokens(ctx, client)
    if result.digest != expected:
        raise StageFailed(f"{where}: pushed {result.digest}, but the package stage built {expected}")
    ctx.log(
        f"{where}@{result.digest}: {result.uploaded} blobs uploaded "
        f"({result.uploaded_bytes} bytes), {result.skipped} already there, "
        f"{result.mounted} mounted from the base's repository, "
        f"{result.retries} retries; tags {', '.join(tags) or '-'} "
        f"({len(tags) - len(todo)} already current)"
    )
    return Pushed(image, client.registry, repository, result.digest, tuple(tags), result)


def _ref_name(layout: Path, digest: str) -> str | None:
    """Pick the layout entry for *digest* when the layout names several images."""
    entries = Layout(layout).manifests()
    if len({d.digest for d in entries}) <= 1:
        return None
    for desc in entries:
        if desc.digest == digest:
            name = desc.annotations.get("org.opencontainers.image.ref.name")
            if name:
                return str(name)
    return None


def record(ctx: ProviderContext[Any], pushed: Pushed, **extra: Any) -> Artifact:
    """The ``image-ref`` artifact deploy reads: always a digest reference, never a tag."""
    res = pushed.result
    return ctx.add_artifact(
        "image-ref",
        pushed.image.name,
        reference=pushed.reference,
        registry=pushed.registry,
        repository=f"{pushed.registry}/{pushed.repository}",
        digest=pushed.digest,
        tags=list(pushed.tags),
        uploaded=res.uploaded if res else 0,
        skipped=res.skipped if res else 0,
        uploaded_bytes=res.uploaded_bytes if res else 0,
        mounted=res.mounted if res else 0,
        retries=res.retries if res else 0,
        platforms=dict(pushed.image.extra.get("platforms") or {}),
        **extra,
    )


def summary(pushed: Sequence[Pushed], skipped_images: int = 0) -> str:
    up = sum(p.result.uploaded for p in pushed if p.result)
    have = sum(p.result.skipped for p in pushed if p.result)
    refs = ", ".join(f"{p.repository}@{p.digest[7:19]}" for p in pushed)
    text = f"{len(pushed)} image{'s' * (len(pushed) != 1)} ({refs}); {up} blobs uploaded, {have} present"
    if skipped_images:
        text += f"; {skipped_images} without layout skipped"
    return text
