"""``s3`` uploader: release archives and checksums to an S3 bucket (or a MinIO-compatible store).

Objects go to ``s3://<bucket>/<prefix><file name>`` with the file's SHA-256 as object metadata
(``x-amz-meta-sha256``). An object that already carries the same SHA-256 is not uploaded again,
so re-running ``cd`` on one commit transfers nothing; a different file under the same key is
overwritten unless ``overwrite = false``, which fails instead (release buckets that must never
change). Credentials and region come from the standard AWS environment; ``endpoint_url``
points at MinIO, Ceph RGW or a moto server.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gopipe import hookimpl
from gopipe.artifacts import Artifact, sha256_file
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.errors import StageFailed
from gopipe.paths import artifact_file
from gopipe.types import Uploader
from gopipe_plugins._common.registry_access import Value, resolve

from . import aws


@dataclass(frozen=True)
class S3Options:
    """Upload archives and checksums to S3. Templates: {project} {version} {commit} {short_commit} …"""

    bucket: Value = doc('bucket name, or { env = "NAME" }')
    prefix: str = doc("key prefix template", "{project}/{version}/")
    kinds: tuple[str, ...] = doc("artifact kinds to upload", ("archive", "checksums"))
    endpoint_url: Value = doc("S3 endpoint for MinIO-compatible stores (default: AWS)", "")
    region: Value = doc("AWS region (default: the AWS environment)", "")
    overwrite: bool = doc("replace an object whose content differs (false: fail instead)", True)
    path_style: bool = doc("path-style addressing (MinIO and most S3-compatible stores need it)", True)
    max_attempts: int = doc("attempts per request (botocore standard retry mode)", 5)


def s3_client(ctx: ProviderContext[S3Options]) -> Any:
    opts = ctx.options
    return aws.client(
        "s3",
        region=resolve(ctx, opts.region, "region"),
        endpoint_url=resolve(ctx, opts.endpoint_url, "endpoint_url"),
        max_attempts=opts.max_attempts,
        s3={"addressing_style": "path" if opts.path_style else "auto"},
    )


def remote_sha256(s3: Any, bucket: str, key: str) -> str | None:
    """The sha256 metadata of an existing object, ``""`` if it has none, ``None`` if absent."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if aws.error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return str((head.get("Metadata") or {}).get("sha256", ""))


def upload(ctx: ProviderContext[S3Options], s3: Any, bucket: str, key: str, art: Artifact) -> bool:
    """Upload one file unless the same content is already there; ``True`` if bytes moved."""
    path = artifact_file(ctx.root, art)
    digest = art.sha256 or sha256_file(path)
    existing = remote_sha256(s3, bucket, key)
    if existing == digest:
        return False
    if existing is not None and not ctx.options.overwrite:
        raise StageFailed(f"s3://{bucket}/{key} exists with other content and overwrite = false")
    content_type = (
        "text/plain"
        if art.kind == "checksums"
        else (mimetypes.guess_type(path.name)[0] or "application/octet-stream")
    )
    s3.upload_file(
        str(path), bucket, key, ExtraArgs={"Metadata": {"sha256": digest}, "ContentType": content_type}
    )
    return True


def run(ctx: ProviderContext[S3Options]) -> None:
    opts = ctx.options
    files = [a for kind in opts.kinds for a in ctx.artifacts.of_kind(kind) if a.path]
    if not files:
        ctx.summary = f"nothing to upload (no {', '.join(opts.kinds)} artifacts)"
        return
    for art in files:
        artifact_file(ctx.root, art)  # before anything connects: read only inside the repository
    bucket = resolve(ctx, opts.bucket, "bucket", required=True)
    prefix = ctx.render(opts.prefix, key="prefix")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    s3 = s3_client(ctx)
    uploaded = skipped = 0
    for art in files:
        key = prefix + Path(str(art.path)).name
        ctx.progress(f"s3://{bucket}/{key}")
        try:
            moved = upload(ctx, s3, bucket, key, art)
        except Exception as exc:
            if not (aws.is_aws_error(exc) or isinstance(exc, OSError)) or isinstance(exc, StageFailed):
                raise
            raise StageFailed(f"upload of {art.name} to s3://{bucket}/{key}: {aws.error_text(exc)}") from None
        uploaded += moved
        skipped += not moved
        ctx.log(f"s3://{bucket}/{key}: {'uploaded' if moved else 'unchanged, skipped'}")
        ctx.add_artifact(
            "s3-object",
            art.name,
            url=f"s3://{bucket}/{key}",
            bucket=bucket,
            key=key,
            sha256=art.sha256,
            source_kind=art.kind,
            uploaded=moved,
        )
    ctx.summary = (
        f"{uploaded + skipped} files to s3://{bucket}/{prefix} ({uploaded} uploaded, {skipped} unchanged)"
    )


@hookimpl
def gopipe_uploaders() -> list[Uploader[S3Options]]:
    return [
        Uploader(
            name="s3",
            run=run,
            options=S3Options,
            description="upload archives and checksums to S3 or a MinIO-compatible store",
        )
    ]
