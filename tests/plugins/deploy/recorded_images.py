"""A test uploader that records ``image-ref`` artifacts exactly as the real uploaders do.

Why: most deploy tests are about the cluster side; building and pushing a real image for each
would cost a Go build and a registry per test without testing anything new. The artifacts
have the same shape as ``gopipe_plugins.upload.image_push.record`` writes (``reference`` =
``host/repo@sha256:…``, ``digest``, ``repository``, ``tags``). Nothing is pulled: kwok never
runs containers.
"""

from __future__ import annotations

from dataclasses import dataclass

from gopipe import hookimpl
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.types import Uploader


@dataclass(frozen=True)
class RecordedImagesOptions:
    """Images to record: artifact name -> digest reference."""

    refs: dict[str, str] = doc("image name -> host/repo@sha256:…", default_factory=dict)


def run(ctx: ProviderContext[RecordedImagesOptions]) -> None:
    for name, reference in ctx.options.refs.items():
        repository, _, digest = reference.partition("@")
        ctx.add_artifact(
            "image-ref",
            name,
            reference=reference,
            digest=digest,
            repository=repository,
            registry=repository.split("/", 1)[0],
            tags=["test"],
        )
    ctx.summary = f"{len(ctx.options.refs)} image refs recorded"


@hookimpl
def gopipe_uploaders() -> list[Uploader]:
    return [
        Uploader(
            name="recorded-images",
            run=run,
            options=RecordedImagesOptions,
            description="test: record image-ref artifacts without pushing",
        )
    ]
