"""``registry`` uploader: push every OCI-layout image to any OCI distribution registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gopipe import hookimpl
from gopipe.context import ProviderContext
from gopipe.types import Uploader
from gopipe_plugins._common.registry_access import connect, credentials, library_logs, resolve
from gopipe_plugins.upload.image_push import (
    Pushed,
    RegistryOptions,
    push_image,
    pushable_images,
    record,
    render_repository,
    render_tags,
    summary,
)


@dataclass(frozen=True)
class GenericRegistryOptions(RegistryOptions):
    """Push OCI images to any distribution registry (Basic or token auth, TLS, retries)."""

    CONFIG_KEY: ClassVar[str] = "tool.gopipe.upload.registry"


def run(ctx: ProviderContext[GenericRegistryOptions]) -> None:
    opts = ctx.options
    images = pushable_images(ctx)
    skipped = len(ctx.artifacts.of_kind("image")) - len(images)
    if not images:
        ctx.summary = "no OCI images to push"
        return
    host = resolve(ctx, opts.registry, "registry", required=True)
    pushed: list[Pushed] = []
    with library_logs(ctx), connect(ctx, opts, host, credentials(ctx, opts)) as client:
        for image in images:
            repo = render_repository(ctx, opts.repository, image.name)
            done = push_image(ctx, client, image, repo, render_tags(ctx, opts, image.name))
            record(ctx, done)
            pushed.append(done)
    ctx.summary = summary(pushed, skipped)


@hookimpl
def gopipe_uploaders() -> list[Uploader[GenericRegistryOptions]]:
    return [
        Uploader(
            name="registry",
            run=run,
            options=GenericRegistryOptions,
            description="push OCI images to a distribution registry, verified by digest",
        )
    ]
