"""``oci-image`` packager: daemonless, reproducible multi-arch images from the built binaries.

One image per main package (binary name), holding that binary for every linux target the
build stage produced, joined in an OCI image index and written as an OCI layout to
``dist/oci/<name>/``. Everything that ends up in the image comes from git (commit time as
``SOURCE_DATE_EPOCH``, remote/revision/version annotations) and the binaries, so the same
commit gives the same index digest on any machine: a re-run uploads nothing new.
See docs/oci.md for the builder and docs/upload.md for what happens next.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from gopipe import hookimpl
from gopipe.artifacts import Artifact
from gopipe.config import Config, doc
from gopipe.context import ProviderContext
from gopipe.errors import ConfigError, StageFailed
from gopipe.paths import artifact_file
from gopipe.types import Packager
from gopipe_oci import (
    ImageConfig,
    OciError,
    Platform,
    Reference,
    RegistryBase,
    RegistryClient,
    StaticBase,
    build_image,
    sanitize_tag,
)
from gopipe_oci.base import Base, LayoutBase, ScratchBase
from gopipe_plugins._common.library import nothing_to_package
from gopipe_plugins._common.registry_access import (
    CONFIG_FILE,
    Login,
    check_insecure_host,
    connect,
    credentials,
    library_logs,
)

BASE_LAYERS = ("auto", "copy", "reference")


@dataclass(frozen=True)
class OciImageOptions(Login):
    """Daemonless OCI images (ko-style). Templates: {name} (binary), {version}, {short_commit} …;
    registry options (username, password, ca_file, insecure, retry, timeout) apply to a
    registry base and mean the same as for the registry uploader."""

    CONFIG_KEY: ClassVar[str] = "tool.gopipe.package.oci-image"

    base: str = doc(
        "'static' (built-in distroless/static-like base: CA certificates, nonroot user 65532), "
        "'scratch' (nothing), 'oci:PATH[:REF]' (a local OCI layout in the repository) "
        "or an image reference host/repo:tag[@sha256:…]",
        "static",
    )
    tzdata: bool = doc("add /usr/share/zoneinfo to the static base (not reproducible across machines)", False)
    name: str = doc(
        "image name template: the layout directory dist/oci/<name> and {name} in upload repository templates",
        "{name}",
    )
    binaries: tuple[str, ...] = doc(
        "several built binaries in one image (each at binary_path with its own {name}; the first "
        "names the image; entrypoint required); empty = one image per binary",
        (),
    )
    binary_path: str = doc("where the binary goes in the image", "/usr/local/bin/{name}")
    entrypoint: tuple[str, ...] = doc("entrypoint (default: the binary)", ())
    cmd: tuple[str, ...] = doc("default arguments", ())
    user: str = doc("user[:group] the process runs as", "65532:65532")
    workdir: str = doc("working directory", "/")
    ports: tuple[str, ...] = doc("exposed ports ('8080' or '53/udp')", ())
    env: dict[str, str] = doc("environment variables", default_factory=dict)
    labels: dict[str, str] = doc("image config labels", default_factory=dict)
    annotations: dict[str, str] = doc(
        "extra manifest/index annotations (on top of "
        "org.opencontainers.image.source/revision/version/created)",
        default_factory=dict,
    )
    platforms: tuple[str, ...] = doc("only these linux platforms (default: every linux target built)", ())
    files: dict[str, str] = doc(
        "extra files or directories: in-image absolute path = path in the repository", default_factory=dict
    )
    kodata: bool = doc(
        "copy the main package's kodata/ directory to /var/run/ko and set KO_DATA_PATH, as ko does", False
    )
    base_layers: str = doc(
        "a registry base's layers: 'copy' (downloaded into dist/oci: a complete layout), "
        "'reference' (left in the base's registry, as ko does: the registry uploader mounts them "
        "into the target repository, so the target must be the base's registry) or 'auto' "
        "(reference when this run's upload stage pushes with the registry uploader to the "
        "base's registry, else copy)",
        "auto",
    )
    compression_level: int = doc(
        "gzip level of the app layer, 1 (fastest, as ko and go-containerregistry) to 9 (smallest); "
        "6 takes about 4x as long as 1 for a layer about 10 % smaller",
        1,
    )

    def __post_init__(self) -> None:
        if self.base_layers not in BASE_LAYERS:
            raise ConfigError(
                CONFIG_FILE,
                f"{self.CONFIG_KEY}.base_layers",
                f"expected one of {', '.join(BASE_LAYERS)}, got {self.base_layers[:40]!r}",
                "use 'auto' (the default), 'copy' for a complete layout or 'reference'",
            )
        if not 1 <= self.compression_level <= 9:
            raise ConfigError(
                CONFIG_FILE,
                f"{self.CONFIG_KEY}.compression_level",
                f"expected 1 to 9, got {self.compression_level}",
                "use 1 (the default) for speed or 9 for the smallest layers",
            )
        if self.insecure and self.base not in ("", "static", "scratch") and not self.base.startswith("oci:"):
            try:
                host = Reference.parse(self.base).registry
            except ValueError:
                return  # reported with the reference itself when the stage runs
            check_insecure_host(host, self.CONFIG_KEY)


def platform_of(binary: Artifact) -> Platform:
    variant = str(binary.extra.get("variant") or "")
    return Platform(binary.os or "linux", binary.arch or "", variant)


def check(config: Config, opts: OciImageOptions) -> None:
    """Preflight: a multi-binary image names each binary once and says what it runs."""
    key = f"{OciImageOptions.CONFIG_KEY}.binaries"
    dupes = sorted({b for b in opts.binaries if opts.binaries.count(b) > 1})
    if dupes:
        raise ConfigError(
            config.display_file, key, f"{', '.join(dupes)[:100]} listed twice", "list each binary once"
        )
    if len(opts.binaries) > 1 and not opts.entrypoint:
        raise ConfigError(
            config.display_file,
            f"{OciImageOptions.CONFIG_KEY}.entrypoint",
            f"an image holding {len(opts.binaries)} binaries needs an explicit entrypoint",
            f'set entrypoint = ["/usr/local/bin/{opts.binaries[0][:40]}"] (or whichever it runs)',
        )
    if len(opts.binaries) > 1 and "{name}" not in opts.binary_path:
        raise ConfigError(
            config.display_file,
            f"{OciImageOptions.CONFIG_KEY}.binary_path",
            f"{opts.binary_path[:100]!r} would put every binary at the same path",
            'keep {name} in it, e.g. "/usr/local/bin/{name}"',
        )


@dataclass(frozen=True)
class ImagePlan:
    """One image to build: its name, and per platform the binaries it holds (entry 0 first)."""

    name: str
    binaries: dict[str, dict[str, Path]]  # platform -> {binary name: file}


def selected_binaries(ctx: ProviderContext[OciImageOptions]) -> list[Artifact]:
    """The linux binaries on the wanted platforms; ``binaries`` names must all be built."""
    wanted = {Platform.parse(p) for p in ctx.options.platforms}
    built = [b for b in ctx.artifacts.of_kind("binary") if b.os == "linux" and b.path is not None]
    chosen = ctx.options.binaries
    if chosen:
        unknown = [b for b in chosen if b not in {x.name for x in built}]
        if unknown:
            names = sorted({x.name for x in built})
            raise ConfigError(
                ctx.config.display_file,
                f"{OciImageOptions.CONFIG_KEY}.binaries",
                f"no linux binary named {', '.join(unknown)[:100]} was built",
                f"use the built ones: {', '.join(names)[:200] or '(none)'}",
            )
        built = [b for b in built if b.name in chosen]
    return [b for b in built if not wanted or any(w.matches(platform_of(b)) for w in wanted)]


def images_to_build(ctx: ProviderContext[OciImageOptions]) -> list[ImagePlan]:
    """The images from the build stage's linux binaries: one per binary, or one holding ``binaries``."""
    chosen = ctx.options.binaries
    grouped: dict[str, dict[str, dict[str, Path]]] = defaultdict(lambda: defaultdict(dict))
    for binary in selected_binaries(ctx):
        plat = str(platform_of(binary))
        name = ctx.render(ctx.options.name, key="name", name=chosen[0] if chosen else binary.name)
        ctx.dist_path(name, "name", under="oci")  # the layout directory dist/oci/<name>
        if binary.name in grouped[name][plat] or (not chosen and grouped[name][plat]):
            raise StageFailed(
                f"two binaries named {name} for {plat}: set a different "
                f"[tool.gopipe.package.oci-image] name template"
            )
        grouped[name][plat][binary.name] = artifact_file(ctx.root, binary)
    plans: list[ImagePlan] = []
    for name, per_platform in sorted(grouped.items()):
        order = chosen or sorted({b for files in per_platform.values() for b in files})
        for plat, files in per_platform.items():
            missing = [b for b in order if b not in files]
            if missing:
                raise StageFailed(f"image {name}: no {', '.join(missing)} built for {plat}")
        plans.append(
            ImagePlan(name, {p: {b: files[b] for b in order} for p, files in sorted(per_platform.items())})
        )
    return plans


def make_base(ctx: ProviderContext[OciImageOptions]) -> tuple[Base, RegistryClient | None]:
    opts = ctx.options
    if opts.base in ("", "static"):
        return StaticBase(tzdata=opts.tzdata), None
    if opts.base == "scratch":
        return ScratchBase(), None
    if opts.base.startswith("oci:"):
        where, _, ref_name = opts.base.removeprefix("oci:").partition(":")
        return LayoutBase(ctx.repo_path(where, "base"), ref_name or None), None
    try:
        ref = Reference.parse(opts.base)
    except ValueError as exc:
        raise StageFailed(f"{OciImageOptions.CONFIG_KEY}.base: {exc}") from None
    client = connect(ctx, opts, ref.registry, credentials(ctx, opts))
    copy = opts.base_layers == "copy" or (opts.base_layers == "auto" and not uploads_to(ctx, ref.registry))
    return RegistryBase(opts.base, client=client, copy_layers=copy), client


def uploads_to(ctx: ProviderContext[OciImageOptions], host: str) -> bool:
    """Whether this run's upload stage pushes images only with the ``registry`` uploader and
    only to *host* (written as a literal ``registry`` option): then base layers left in that
    registry can be mounted instead of downloaded and pushed back."""
    from gopipe.plan import make_plan
    from gopipe.stages import Stage

    try:
        if Stage.UPLOAD not in make_plan(ctx.args.pipeline.split("+")).stages:
            return False
    except ConfigError:
        return False
    upload = ctx.config.stage(Stage.UPLOAD)
    if [p for p in upload.providers if p in IMAGE_UPLOADERS] != ["registry"]:
        return False
    target = upload.tables.get("registry", {}).get("registry")
    if isinstance(target, dict):  # { env = "NAME", default = "…" }, as the uploader reads it
        target = ctx.env.get(str(target.get("env", "")), "") or target.get("default", "")
    return target == host


# uploaders that push the image artifacts' layouts (image_push.py)
IMAGE_UPLOADERS = ("registry", "harbor", "ecr")


KO_DATA_PATH = "/var/run/ko"


def extra_files(ctx: ProviderContext[OciImageOptions], image: str) -> dict[str, Path]:
    """``files`` and the main package's ``kodata/``: in-image path → checked repository path."""
    out: dict[str, Path] = {}
    for dst, src in sorted(ctx.options.files.items()):
        parts = dst.split("/")
        if not dst.startswith("/") or ".." in parts or dst.strip("/") == "" or "\0" in dst:
            raise ConfigError(
                ctx.config.display_file,
                f"{OciImageOptions.CONFIG_KEY}.files",
                f"{dst[:100]!r} is not an absolute in-image path without '..'",
                'write "/path/in/image" = "path/in/repository"',
            )
        path = ctx.repo_path(src, f"files.{dst}")
        if not path.exists():
            ctx.fail(f"{OciImageOptions.CONFIG_KEY}.files: {src!r} does not exist")
        out[dst] = path
    if ctx.options.kodata:
        for binary in ctx.artifacts.of_kind("binary"):
            main = binary.extra.get("main")
            if main and ctx.render(ctx.options.name, key="name", name=binary.name) == image:
                kodata = ctx.repo_path(str(main), "kodata") / "kodata"
                if kodata.is_dir() and not kodata.is_symlink():
                    out[KO_DATA_PATH] = ctx.repo_path(kodata, "kodata")
                break
    return out


def remote_blobs(sources: Mapping[str, str]) -> dict[str, Any]:
    """The base layers the layout does not hold (``base_layers`` by reference) and where the
    upload finds them; nothing for a complete layout."""
    return {"blob_sources": dict(sources)} if sources else {}


def base_inputs(base: Base) -> dict[str, Any]:
    """What the base put into the image besides layers pulled by digest: the CA bundle's
    source and sha256 for the static base, so the outputs (and provenance) record it."""
    if isinstance(base, StaticBase):
        _, source, _ = base.ca_source()
        return {"ca_bundle": source.to_json()}
    return {}


def run(ctx: ProviderContext[OciImageOptions]) -> None:
    opts = ctx.options
    groups = images_to_build(ctx)
    if not groups and nothing_to_package(ctx):
        return
    if not groups:
        ctx.summary = "no linux binaries: no image built"
        ctx.log("the build stage produced no linux binaries; add a linux target to build images")
        return
    git = ctx.git
    base, client = make_base(ctx)
    version_tag = sanitize_tag(git.version)
    built: list[str] = []
    try:
        with library_logs(ctx):
            for plan in groups:
                name = plan.name
                ctx.progress(f"image {name} ({', '.join(plan.binaries)})")
                main, *others = next(iter(plan.binaries.values()))
                binaries = {plat: files[main] for plat, files in plan.binaries.items()}
                paths = {b: ctx.render(opts.binary_path, key="binary_path", name=b) for b in (main, *others)}
                more = {paths[b]: {plat: files[b] for plat, files in plan.binaries.items()} for b in others}
                out = ctx.dist_path(name, "name", under="oci")
                extras = extra_files(ctx, name)
                env = dict(opts.env)
                if KO_DATA_PATH in extras:
                    env.setdefault("KO_DATA_PATH", KO_DATA_PATH)
                config = ImageConfig(
                    entrypoint=list(opts.entrypoint) or None,
                    cmd=list(opts.cmd),
                    user=opts.user,
                    workdir=opts.workdir,
                    env=env,
                    labels=dict(opts.labels),
                    exposed_ports=list(opts.ports),
                )
                try:
                    res = build_image(
                        binaries,
                        out,
                        name=name,
                        epoch=git.commit_time,
                        config=config,
                        base=base,
                        binary_path=paths[main],
                        extra_files=dict(extras),
                        more_binaries=more,
                        source=git.remote_url or "",
                        revision=git.sha if git.sha != "none" else "",
                        version=git.version,
                        annotations=dict(opts.annotations),
                        ref_names=tuple(dict.fromkeys(n for n in (version_tag, "latest") if n)),
                        compresslevel=opts.compression_level,
                    )
                except (OciError, OSError, ValueError, KeyError) as exc:
                    raise StageFailed(f"image {name}: {exc}") from None
                platforms = {img.platform: img.manifest_digest for img in res.images}
                ctx.add_artifact(
                    "image",
                    name,
                    out,
                    layout=str(out.relative_to(ctx.root)),
                    index_digest=res.index_digest,
                    index_size=res.index_size,
                    media_type="application/vnd.oci.image.index.v1+json",
                    platforms=platforms,
                    builder="oci-image",
                    size=res.size,
                    version=git.version,
                    base=opts.base or "static",
                    binaries={b: paths[b] for b in (main, *others)},
                    **base_inputs(base),
                    **remote_blobs(res.blob_sources),
                )
                ctx.log(
                    f"{name}: {res.index_digest} ({', '.join(platforms)}; {res.size} bytes) "
                    f"in {out.relative_to(ctx.root)}"
                )
                built.append(f"{name}@{res.index_digest[7:19]}")
    finally:
        if client is not None:
            client.close()
    ctx.summary = f"{len(built)} image{'s' * (len(built) != 1)}: {', '.join(built)}"


@hookimpl
def gopipe_packagers() -> list[Packager[OciImageOptions]]:
    return [
        Packager(
            name="oci-image",
            run=run,
            check=check,
            options=OciImageOptions,
            description="daemonless reproducible multi-arch OCI image (static base or "
            "registry base), as an OCI layout in dist/oci",
        )
    ]
