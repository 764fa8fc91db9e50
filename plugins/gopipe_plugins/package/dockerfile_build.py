"""What the ``docker`` and ``buildah`` packagers share: options, build contexts, tags, checks.

How the Dockerfile gets the prebuilt binary: per linux platform, gopipe lays out a fresh
build context under ``dist/gopipe/<provider>/<os>-<arch>[-<variant>]/`` holding

* the platform's binaries at the context root (``COPY hello /hello``; GoReleaser's
  ``dockers`` convention), and
* the same binaries under ``<os>/<arch>[/<variant>]/`` (``ARG TARGETPLATFORM`` then
  ``COPY $TARGETPLATFORM/hello /hello``; GoReleaser's ``dockers_v2``/buildx convention),
* plus, if configured, a copy of ``context`` (without ``.git`` and ``dist``) and
  ``extra_files``.

One context per platform keeps ``COPY hello`` unambiguous, sends the daemon only what the
image needs instead of the whole repository, and needs no ``ARG`` step, which the classic
builder caches across ``--platform`` values for ``FROM scratch`` and then refuses
("image ... does not match the specified platform"). Build args ``VERSION``, ``COMMIT``,
``DATE``, ``BINARY`` and ``TARGETOS/TARGETARCH/TARGETVARIANT/TARGETPLATFORM`` are always
passed (the classic builder does not set the TARGET* ones itself).
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gopipe.artifacts import Artifact
from gopipe.config import Config, doc
from gopipe.context import ProviderContext
from gopipe.errors import ConfigError
from gopipe.paths import artifact_file, inside, remove_owned
from gopipe.secrets import clip
from gopipe.stages import Stage

DEFAULT_TAG = "{project}:{version}"
_TAG_BAD = re.compile(r"[^A-Za-z0-9_.-]")
_REPO_BAD = re.compile(r"[^a-z0-9._/:-]")


@dataclass(frozen=True)
class ImageOptions:
    """Dockerfile build options shared by ``docker`` and ``buildah``. Templates: {project}
    {version} {commit} {short_commit} {date} {tag} {branch} and, per platform, {os} {arch}
    {variant} {platform}."""

    dockerfile: str = doc("Dockerfile, relative to the repository", "Dockerfile")
    context: str = doc("directory copied into each build context ('' = binaries only)", "")
    extra_files: tuple[str, ...] = doc(
        "files/directories (relative to the repository) copied into the build context", ()
    )
    tags: tuple[str, ...] = doc(
        "image references (templates); with several platforms a tag without {arch} gets '-<arch>' appended",
        (DEFAULT_TAG,),
    )
    platforms: tuple[str, ...] = doc("linux platforms to build ('' = every linux target built)", ())
    build_args: dict[str, str] = doc("extra --build-arg values (templates)", default_factory=dict)
    labels: dict[str, str] = doc("extra --label values (templates)", default_factory=dict)
    oci_labels: bool = doc("add org.opencontainers.image.{version,revision,created,source} labels", True)
    push: bool = doc("push every tag from the builder's own store after building", False)


@dataclass(frozen=True)
class PlatformBuild:
    """One image to build: a platform, its binaries, its context, tags and build args."""

    platform: str  # "linux/arm64", "linux/arm/v7"
    os: str
    arch: str
    variant: str
    binaries: tuple[Artifact, ...]
    context: Path
    tags: tuple[str, ...]
    build_args: Mapping[str, str]
    labels: Mapping[str, str]


def dockerfile_path(config: Config, provider: str) -> tuple[str, Path]:
    """(configured value, resolved path) of the provider's Dockerfile, from raw config; one
    outside the repository is a ConfigError."""
    table = config.stage(Stage.PACKAGE).tables.get(provider, {})
    value = table.get("dockerfile", "Dockerfile")
    value = value if isinstance(value, str) and value else "Dockerfile"
    key = f"tool.gopipe.package.{provider}.dockerfile"
    return value, inside(config.root, value, file=config.display_file, key=key)


def check_dockerfile(config: Config, provider: str) -> None:
    """A selected docker/buildah packager without its Dockerfile is a config error (exit 2)."""
    if provider not in config.stage(Stage.PACKAGE).providers:
        return
    value, path = dockerfile_path(config, provider)
    if not path.is_file():
        key = f"tool.gopipe.package.{provider}.dockerfile"
        raise ConfigError(
            config.display_file,
            key,
            f"Dockerfile not found: {path}, which package provider '{provider}' builds from",
            f"create {value}, e.g. FROM scratch + COPY <binary> /<binary>, or set {key} to its path",
        )


def sanitize_reference(ref: str) -> str:
    """Make a rendered reference valid: lowercase repository, tag chars limited to [\\w.-]."""
    name, tag = ref, ""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        name, tag = ref[:colon], ref[colon + 1 :]
    # A registry host may keep its port; only the repository path must be lowercase.
    name = _REPO_BAD.sub("-", name.lower())
    if tag:
        tag = _TAG_BAD.sub("-", tag).lstrip(".-")[:128] or "latest"
        return f"{name}:{tag}"
    return name


def repository(ref: str) -> str:
    """``host/repo:tag`` → ``host/repo``."""
    slash, colon = ref.rfind("/"), ref.rfind(":")
    return ref[:colon] if colon > slash else ref


def has_registry(ref: str) -> bool:
    """True when the first path component names a registry (has '.' or ':' or is localhost)."""
    first, sep, _ = ref.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def _render(ctx: ProviderContext[ImageOptions], key: str, template: str, **extra: str) -> str:
    return ctx.render(template, key=key, **extra)


def _copy_into(src: Path, dest: Path, dist: Path) -> None:
    if src.is_dir():
        skip = {".git", ".nox", "__pycache__"}
        dist_resolved = dist.resolve()

        def ignore(directory: str, names: list[str]) -> set[str]:
            out = {n for n in names if n in skip}
            out |= {n for n in names if (Path(directory) / n).resolve() == dist_resolved}
            return out

        shutil.copytree(src, dest, ignore=ignore, symlinks=True, dirs_exist_ok=True)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)


def plan_builds(ctx: ProviderContext[ImageOptions]) -> list[PlatformBuild]:
    """Group the linux binaries by platform and lay out one build context per platform."""
    opts = ctx.options
    by_platform: dict[str, list[Artifact]] = {}
    for b in ctx.artifacts.of_kind("binary"):
        if b.os != "linux" or not b.arch:
            continue
        variant = str(b.extra.get("variant") or "")
        key = "/".join(p for p in ("linux", b.arch, variant) if p)
        by_platform.setdefault(key, []).append(b)
    if not by_platform:
        ctx.fail('no linux binaries to put into an image: add e.g. "linux/amd64" to [tool.gopipe] targets')
    wanted = list(opts.platforms) or sorted(by_platform)
    missing = [p for p in wanted if p not in by_platform]
    if missing:
        ctx.fail(
            f"no binary was built for {', '.join(missing)} (built: "
            f"{', '.join(sorted(by_platform))}); add it to [tool.gopipe] targets or remove it "
            f"from tool.gopipe.package.{ctx.provider}.platforms"
        )
    value, dockerfile = dockerfile_path(ctx.config, ctx.provider)
    if not dockerfile.is_file():
        ctx.fail(
            f"Dockerfile not found: {value}; create it or set tool.gopipe.package.{ctx.provider}.dockerfile",
            file=value,
        )

    g = ctx.git
    base_labels: dict[str, str] = {}
    if opts.oci_labels:
        base_labels = {
            "org.opencontainers.image.version": g.version,
            "org.opencontainers.image.revision": g.sha,
            "org.opencontainers.image.created": g.date,
        }
        if g.remote_url:
            base_labels["org.opencontainers.image.source"] = g.remote_url
    workdir = f"gopipe/{ctx.provider}"  # below dist: gopipe's own, rebuilt on every run
    builds: list[PlatformBuild] = []
    for platform in wanted:
        parts = platform.split("/")
        arch, variant = parts[1], parts[2] if len(parts) > 2 else ""
        binaries = tuple(sorted(by_platform[platform], key=lambda a: a.name))
        name = "-".join(parts)
        owned = ctx.dist_path(ctx.provider, "platforms", under="gopipe")  # dist/gopipe/<provider>
        remove_owned(owned / name, within=owned)  # the last run's context; a symlink is not followed
        context = ctx.dist_path(name, "platforms", under=workdir)
        context.mkdir(parents=True)
        if opts.context:
            src = ctx.repo_path(opts.context, "context")
            if not src.is_dir():
                ctx.fail(f"tool.gopipe.package.{ctx.provider}.context: {opts.context} is not a directory")
            _copy_into(src, context, ctx.dist)
        for i, extra in enumerate(opts.extra_files):
            src = ctx.repo_path(extra, f"extra_files[{i}]")
            if not src.exists():
                ctx.fail(f"tool.gopipe.package.{ctx.provider}.extra_files: {extra} does not exist")
            _copy_into(src, ctx.dist_path(extra, f"extra_files[{i}]", under=f"{workdir}/{name}"), ctx.dist)
        for b in binaries:
            src = artifact_file(ctx.root, b)
            for rel in (src.name, "/".join([*parts, src.name])):
                dest = ctx.dist_path(rel, "platforms", under=f"{workdir}/{name}")
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
                dest.chmod(0o755)
        variables = {"os": "linux", "arch": arch, "variant": variant, "platform": platform}
        arch_suffix = arch + variant
        tags: list[str] = []
        for template in opts.tags:
            ref = _render(ctx, "tags", template, **variables)
            if len(wanted) > 1 and "{arch}" not in template:
                ref = f"{ref}-{arch_suffix}" if ref.rfind(":") > ref.rfind("/") else f"{ref}:{arch_suffix}"
            ref = sanitize_reference(ref)
            if ref not in tags:
                tags.append(ref)
        args = {
            "VERSION": g.version,
            "COMMIT": g.sha,
            "DATE": g.date,
            "BINARY": binaries[0].name if len(binaries) == 1 else " ".join(b.name for b in binaries),
            "TARGETOS": "linux",
            "TARGETARCH": arch,
            "TARGETVARIANT": variant,
            "TARGETPLATFORM": platform,
        }
        args.update({k: _render(ctx, f"build_args.{k}", v, **variables) for k, v in opts.build_args.items()})
        labels = {
            **base_labels,
            **{k: _render(ctx, f"labels.{k}", v, **variables) for k, v in opts.labels.items()},
        }
        builds.append(
            PlatformBuild(platform, "linux", arch, variant, binaries, context, tuple(tags), args, labels)
        )
    return builds


def check_push_tags(ctx: ProviderContext[ImageOptions], builds: list[PlatformBuild]) -> None:
    """Before building anything: every tag must name a registry when ``push = true``."""
    if not ctx.options.push:
        return
    bare = [t for b in builds for t in b.tags if not has_registry(t)]
    if bare:
        ctx.fail(
            f"push = true but {bare[0]} names no registry (it would go to Docker Hub); "
            f"set tool.gopipe.package.{ctx.provider}.tags to e.g. "
            '"registry.example.com/team/{project}:{version}"'
        )


def build_flags(build: PlatformBuild, *, target_args: bool = True) -> list[str]:
    """``--build-arg``/``--label``/``-t`` flags common to docker and buildah."""
    flags: list[str] = []
    for key, value in sorted(build.build_args.items()):
        if not target_args and key.startswith("TARGET"):
            continue
        flags += ["--build-arg", f"{key}={value}"]
    for key, value in sorted(build.labels.items()):
        flags += ["--label", f"{key}={value}"]
    for tag in build.tags:
        flags += ["-t", tag]
    return flags


def discard_context(build: PlatformBuild) -> None:
    """Drop a context once its image is built (binary copies); failed ones stay for debugging."""
    with contextlib.suppress(OSError):
        remove_owned(build.context, within=build.context.parent)


def record_image(
    ctx: ProviderContext[ImageOptions],
    build: PlatformBuild,
    image_id: str,
    builder: str,
    digests: Mapping[str, str] | None,
    **extra: Any,
) -> None:
    """One ``image`` artifact per platform build; ``digests`` (tag → digest) when pushed."""
    if digests:
        extra |= {
            "digest": digests[build.tags[0]],
            "pushed": [f"{repository(t)}@{d}" for t, d in digests.items()],
        }
    ctx.add_artifact(
        "image",
        repository(build.tags[0]),
        os=build.os,
        arch=build.arch,
        reference=build.tags[0],
        tags=list(build.tags),
        image_id=image_id,
        builder=builder,
        platform=build.platform,
        variant=build.variant or None,
        **extra,
    )
    ctx.log(f"built {build.platform}: {', '.join(build.tags)} ({image_id})")


def summarize(ctx: ProviderContext[ImageOptions], builds: list[PlatformBuild], how: str) -> None:
    pushed = " and pushed" if ctx.options.push else ""
    ctx.summary = (
        f"{len(builds)} image{'s' * (len(builds) != 1)} built{pushed} with {how}: "
        f"{', '.join(b.tags[0] for b in builds)}"
    )


def tail(text: str, lines: int = 1) -> str:
    """The last non-empty line(s) of a tool's output, for one-line error messages."""
    kept = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return clip(" | ".join(kept[-lines:]), 300, tail=True)  # masked later, never split a word
