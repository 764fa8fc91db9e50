"""``buildah`` packager: ``buildah bud`` of the repository's Dockerfile, no daemon needed.

Runs as a plain process with ``--isolation chroot`` (no runc, no network namespace), so
it works in CI containers where no Docker daemon is allowed. Storage comes from the
environment as buildah reads it (``CONTAINERS_STORAGE_CONF``, ``STORAGE_DRIVER``,
``REGISTRY_AUTH_FILE``) or from the ``root``/``runroot``/``storage_driver`` options, which
become buildah's global flags. ``timestamp = true`` passes ``--timestamp <commit time>``
so the same commit gives the same image ID. ``push = true`` pushes every tag from
buildah's store (``--digestfile`` gives the manifest digest recorded on the artifact).
How the binary gets into the context: see :mod:`.images`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gopipe import hookimpl
from gopipe.config import Config, doc
from gopipe.context import ProviderContext
from gopipe.types import Packager
from gopipe_plugins.package.dockerfile_build import (
    ImageOptions,
    PlatformBuild,
    build_flags,
    check_dockerfile,
    check_push_tags,
    discard_context,
    dockerfile_path,
    plan_builds,
    record_image,
    summarize,
    tail,
)


@dataclass(frozen=True)
class BuildahOptions(ImageOptions):
    """buildah bud settings (plus the shared Dockerfile options)."""

    executable: str = doc("buildah binary to run", "buildah")
    isolation: str = doc("--isolation for RUN steps", "chroot")
    root: str = doc("--root (graph root); '' = from storage.conf / CONTAINERS_STORAGE_CONF", "")
    runroot: str = doc("--runroot; '' = from storage.conf", "")
    storage_driver: str = doc("--storage-driver (vfs, overlay); '' = from storage.conf / STORAGE_DRIVER", "")
    timestamp: bool = doc("--timestamp <commit time>: reproducible image IDs", True)
    layers: bool = doc("--layers: cache intermediate layers", False)
    tls_verify: bool = doc("verify registry TLS on pull/push (false only for loopback registries)", True)
    cert_dir: str = doc("--cert-dir with the registry CA (ca.crt) for pull/push", "")
    authfile: str = doc("--authfile for pull/push; '' = REGISTRY_AUTH_FILE or buildah's default", "")


def _global_flags(opts: BuildahOptions) -> list[str]:
    flags: list[str] = []
    for flag, value in (
        ("--root", opts.root),
        ("--runroot", opts.runroot),
        ("--storage-driver", opts.storage_driver),
    ):
        if value:
            flags += [flag, value]
    return flags


def _registry_flags(opts: BuildahOptions) -> list[str]:
    flags = [f"--tls-verify={'true' if opts.tls_verify else 'false'}"]
    if opts.cert_dir:
        flags.append(f"--cert-dir={opts.cert_dir}")
    if opts.authfile:
        flags.append(f"--authfile={opts.authfile}")
    return flags


def _build(ctx: ProviderContext[BuildahOptions], build: PlatformBuild) -> str:
    opts = ctx.options
    _, dockerfile = dockerfile_path(ctx.config, ctx.provider)
    iidfile = build.context.parent / f"{build.context.name}.iid"
    iidfile.unlink(missing_ok=True)
    cmd = [
        opts.executable,
        *_global_flags(opts),
        "bud",
        "--isolation",
        opts.isolation,
        "--platform",
        build.platform,
        "-f",
        str(dockerfile),
        "--iidfile",
        str(iidfile),
        f"--layers={'true' if opts.layers else 'false'}",
        *_registry_flags(opts),
        *(["--timestamp", str(ctx.git.commit_time)] if opts.timestamp else []),
        *build_flags(build),
        str(build.context),
    ]
    done = ctx.sh(cmd)
    if not done.ok or not iidfile.is_file():
        ctx.fail(
            f"buildah bud for {build.platform} failed: {tail(done.stderr) or tail(done.stdout)}",
            details=ctx.clip(done.stdout + done.stderr, 4000, tail=True),
        )
    image_id = iidfile.read_text().strip()
    return image_id if image_id.startswith("sha256:") else f"sha256:{image_id}"


def _push(ctx: ProviderContext[BuildahOptions], image_id: str, tag: str, digestfile_dir: str) -> str:
    opts = ctx.options
    digestfile = ctx.out / ctx.provider / f"{digestfile_dir}.digest"
    digestfile.unlink(missing_ok=True)
    done = ctx.sh(
        [
            opts.executable,
            *_global_flags(opts),
            "push",
            *_registry_flags(opts),
            "--digestfile",
            str(digestfile),
            image_id,
            f"docker://{tag}",
        ]
    )
    if not done.ok or not digestfile.is_file():
        ctx.fail(
            f"buildah push {tag} failed: {tail(done.stderr) or tail(done.stdout)}",
            details=ctx.clip(done.stdout + done.stderr, 4000, tail=True),
        )
    return digestfile.read_text().strip()


def run(ctx: ProviderContext[BuildahOptions]) -> None:
    builds = plan_builds(ctx)
    check_push_tags(ctx, builds)
    for build in builds:
        ctx.progress(f"buildah bud {build.platform}")
        image_id = _build(ctx, build)
        discard_context(build)
        digests = (
            {tag: _push(ctx, image_id, tag, build.context.name) for tag in build.tags}
            if ctx.options.push
            else None
        )
        record_image(ctx, build, image_id, "buildah", digests)
    summarize(ctx, builds, "buildah")


def _check(config: Config, options: BuildahOptions) -> None:
    check_dockerfile(config, "buildah")


@hookimpl
def gopipe_packagers() -> list[Packager[BuildahOptions]]:
    return [
        Packager(
            name="buildah",
            run=run,
            options=BuildahOptions,
            check=_check,
            description="buildah bud --isolation chroot of the repository's Dockerfile",
        )
    ]
