"""``docker`` packager: ``docker build`` of the repository's Dockerfile, one image per platform.

For teams that want alpine/distroless/anything-with-a-shell bases via a Dockerfile. The
daemon is whatever the docker CLI reaches (``DOCKER_HOST``, ``DOCKER_CONTEXT``,
``DOCKER_CONFIG`` from the environment). ``builder = "auto"`` uses buildx when the CLI
has it and ``DOCKER_BUILDKIT`` is not ``0``, else the classic builder; either way each
platform is built separately (``--load`` for buildx) so every image lands in the daemon
under its own tag and image ID. How the binary gets into the context: see :mod:`.images`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

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

_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")
_PLATFORM_CACHE_BUG = "does not match the specified platform"


@dataclass(frozen=True)
class DockerOptions(ImageOptions):
    """docker build settings (plus the shared Dockerfile options)."""

    executable: str = doc("docker CLI to run", "docker")
    builder: Literal["auto", "classic", "buildx"] = doc(
        "auto: buildx if the CLI has it and DOCKER_BUILDKIT != 0, else the classic builder", "auto"
    )
    no_cache: bool = doc("build with --no-cache", False)
    pull: bool = doc("always pull newer base images (--pull)", False)


def _builder(ctx: ProviderContext[DockerOptions]) -> Literal["classic", "buildx"]:
    opts = ctx.options
    if opts.builder != "auto":
        return opts.builder
    if ctx.env.get("DOCKER_BUILDKIT") == "0":
        return "classic"
    probe = ctx.sh([opts.executable, "buildx", "version"], echo=False)
    return "buildx" if probe.ok else "classic"


def _build(ctx: ProviderContext[DockerOptions], build: PlatformBuild, builder: str) -> str:
    opts = ctx.options
    _, dockerfile = dockerfile_path(ctx.config, ctx.provider)
    iidfile = build.context.parent / f"{build.context.name}.iid"
    iidfile.unlink(missing_ok=True)
    cmd = [
        opts.executable,
        *(["buildx", "build", "--load"] if builder == "buildx" else ["build"]),
        "--platform",
        build.platform,
        "-f",
        str(dockerfile),
        "--iidfile",
        str(iidfile),
        *(["--pull"] if opts.pull else []),
        *build_flags(build, target_args=builder == "classic"),
    ]
    env = {"DOCKER_BUILDKIT": "0"} if builder == "classic" else {"DOCKER_BUILDKIT": "1"}
    no_cache = ["--no-cache"] if opts.no_cache else []
    done = ctx.sh([*cmd, *no_cache, str(build.context)], env=env)
    if (
        not done.ok
        and builder == "classic"
        and not no_cache
        and _PLATFORM_CACHE_BUG in done.stdout + done.stderr
    ):
        # The classic builder reuses a cached step from another platform's build of the
        # same FROM scratch stage and then rejects it; a cache-free build is correct.
        ctx.log(
            f"classic builder cache is from another platform; rebuilding {build.platform} with --no-cache"
        )
        done = ctx.sh([*cmd, "--no-cache", str(build.context)], env=env)
    if not done.ok or not iidfile.is_file():
        ctx.fail(
            f"docker build for {build.platform} failed: {tail(done.stderr) or tail(done.stdout)}",
            details=ctx.clip(done.stdout + done.stderr, 4000, tail=True),
        )
    return iidfile.read_text().strip()


def _push(ctx: ProviderContext[DockerOptions], tag: str) -> str:
    done = ctx.sh([ctx.options.executable, "push", tag])
    match = _DIGEST.search(done.stdout)
    if not done.ok or match is None:
        ctx.fail(
            f"docker push {tag} failed: {tail(done.stderr) or tail(done.stdout)}",
            details=ctx.clip(done.stdout + done.stderr, 4000, tail=True),
        )
    return match.group(1)


def run(ctx: ProviderContext[DockerOptions]) -> None:
    builds = plan_builds(ctx)
    check_push_tags(ctx, builds)
    builder = _builder(ctx)
    ctx.log(f"docker builder: {builder}")
    for build in builds:
        ctx.progress(f"docker build {build.platform}")
        image_id = _build(ctx, build, builder)
        discard_context(build)
        digests = {tag: _push(ctx, tag) for tag in build.tags} if ctx.options.push else None
        record_image(ctx, build, image_id, "docker", digests, docker_builder=builder)
    summarize(ctx, builds, f"docker ({builder})")


def _check(config: Config, options: DockerOptions) -> None:
    check_dockerfile(config, "docker")


@hookimpl
def gopipe_packagers() -> list[Packager[DockerOptions]]:
    return [
        Packager(
            name="docker",
            run=run,
            options=DockerOptions,
            check=_check,
            description="docker build (buildx if present) of the repository's Dockerfile",
        )
    ]
