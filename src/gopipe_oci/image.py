"""Reproducible multi-platform images, ko-style: base layers + one layer holding the binary.

:func:`build_image` is the entry point: a mapping ``platform -> Go binary`` in, an OCI image
layout directory with one image per platform joined by an image index out. All timestamps
come from *epoch* (the commit time), every JSON document is serialised canonically and the
index lists platforms in sorted order, so the same inputs give a byte-identical layout.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .base import CA_PATH, Base, ResolvedBase, StaticBase
from .digest import MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST
from .layer import EntrySource, File, Layer, build_layer, normalize_path
from .layout import REF_NAME, Descriptor, LayoutWriter
from .platforms import Platform

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ANNOTATION = "org.opencontainers.image."


@dataclass(frozen=True)
class ImageConfig:
    """The runtime part of the image config (``config`` in the OCI image config JSON).

    ``entrypoint=None`` means ``[binary_path]``. ``env`` is applied on top of the base's
    environment (for the static base: ``PATH`` and ``SSL_CERT_FILE``).
    """

    entrypoint: Sequence[str] | None = None
    cmd: Sequence[str] = ()
    user: str = "65532:65532"
    workdir: str = "/"
    env: Mapping[str, str] = field(default_factory=dict)
    exposed_ports: Sequence[str] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LayerInfo:
    digest: str
    size: int
    diff_id: str
    media_type: str


@dataclass(frozen=True)
class PlatformImage:
    platform: str
    manifest_digest: str
    manifest_size: int
    config_digest: str
    config_size: int
    layers: tuple[LayerInfo, ...]


@dataclass(frozen=True)
class ImageResult:
    """What :func:`build_image` wrote: the layout path, the index and one entry per platform."""

    layout: Path
    index_digest: str
    index_size: int
    images: tuple[PlatformImage, ...]
    ref_names: tuple[str, ...]
    #: base layers left in the base's registry (not in the layout): digest → ``host/repo``
    blob_sources: Mapping[str, str] = field(default_factory=dict)

    def manifest_digest(self, platform: str) -> str:
        want = Platform.parse(platform)
        for img in self.images:
            if Platform.parse(img.platform) == want:
                return img.manifest_digest
        raise KeyError(platform)

    @property
    def size(self) -> int:
        """Total bytes of distinct blobs (index, manifests, configs, layers)."""
        blobs = {self.index_digest: self.index_size}
        for img in self.images:
            blobs[img.manifest_digest] = img.manifest_size
            blobs[img.config_digest] = img.config_size
            blobs.update({layer.digest: layer.size for layer in img.layers})
        return sum(blobs.values())


def rfc3339(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _env(base_cfg: Mapping[str, Any], static: bool, overrides: Mapping[str, str]) -> list[str]:
    env: dict[str, str] = {}
    if static:
        env = {"PATH": DEFAULT_PATH, "SSL_CERT_FILE": CA_PATH}
    for item in base_cfg.get("Env") or []:
        key, _, value = str(item).partition("=")
        env[key] = value
    env.update(overrides)
    return [f"{k}={v}" for k, v in env.items()]


def _image_config(
    plat: Platform,
    base: ResolvedBase,
    app: Layer,
    cfg: ImageConfig,
    binary_path: str,
    added: str,
    created: str,
) -> dict[str, Any]:
    base_cfg: Mapping[str, Any] = base.config.get("config") or {}
    static = not base.config
    runtime: dict[str, Any] = {
        "Entrypoint": list(cfg.entrypoint) if cfg.entrypoint is not None else [binary_path],
        "Env": _env(base_cfg, static, cfg.env),
        "User": cfg.user,
        "WorkingDir": cfg.workdir,
    }
    if cfg.cmd:
        runtime["Cmd"] = list(cfg.cmd)
    ports: dict[str, dict[str, str]] = {str(p): {} for p in base_cfg.get("ExposedPorts") or {}}
    for port in cfg.exposed_ports:
        ports[port if "/" in port else f"{port}/tcp"] = {}
    if ports:
        runtime["ExposedPorts"] = ports
    labels = {**(base_cfg.get("Labels") or {}), **cfg.labels}
    if labels:
        runtime["Labels"] = labels
    if static:
        history: list[dict[str, Any]] = [
            {"created": rfc3339(0), "created_by": base.description} for _ in base.layers
        ]
    else:
        history = list(base.config.get("history") or [])
        if sum(1 for h in history if not h.get("empty_layer")) != len(base.layers):
            history = [{"created_by": base.description} for _ in base.layers]
    history.append({"created": created, "created_by": f"gopipe: add {added}"})
    config: dict[str, Any] = {
        "architecture": plat.architecture,
        "os": plat.os,
        "created": created,
        "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": [la.diff_id for la in (*base.layers, app)]},
        "history": history,
    }
    if plat.variant:
        config["variant"] = plat.variant
    return config


def _companions(
    main_path: str, platforms: Mapping[Platform, Path], more: Mapping[str, Mapping[str, Path]]
) -> dict[str, dict[Platform, Path]]:
    """*more* checked and keyed by parsed platform: distinct in-image paths, every platform there."""
    out: dict[str, dict[Platform, Path]] = {}
    for raw_path, per_platform in sorted(more.items()):
        path = "/" + normalize_path(raw_path)
        if path == main_path or path in out:
            raise ValueError(f"two binaries at {path} in the image")
        parsed = {Platform.parse(k): Path(v) for k, v in per_platform.items()}
        missing = sorted(str(p) for p in platforms if p not in parsed)
        if missing:
            raise ValueError(f"no binary for {path} on {', '.join(missing)}")
        for plat in platforms:
            if not parsed[plat].is_file():
                raise FileNotFoundError(f"binary for {path} on {plat} not found: {parsed[plat]}")
        out[path] = {plat: parsed[plat] for plat in platforms}
    return out


def build_image(
    binaries: Mapping[str, Path],
    output: Path,
    *,
    name: str,
    epoch: int,
    config: ImageConfig | None = None,
    base: Base | None = None,
    binary_path: str | None = None,
    binary_mode: int = 0o755,
    binary_owner: tuple[int, int] = (0, 0),
    extra_files: Mapping[str, EntrySource] | None = None,
    more_binaries: Mapping[str, Mapping[str, Path]] | None = None,
    source: str = "",
    revision: str = "",
    version: str = "",
    annotations: Mapping[str, str] | None = None,
    ref_names: Sequence[str] = ("latest",),
    compresslevel: int = 6,
    max_workers: int | None = None,
) -> ImageResult:
    """Build one image per platform (``"linux/amd64" -> binary``) into an OCI layout at *output*.

    *epoch* is the commit time (``SOURCE_DATE_EPOCH``): it becomes every mtime in the app
    layer and the ``created`` field/annotation. *base* defaults to :class:`StaticBase`.
    *source*/*revision*/*version* become ``org.opencontainers.image.*`` annotations on every
    manifest and on the index. *ref_names* tag the index inside the layout (``oci:DIR:NAME``).
    *more_binaries* puts further binaries into the same app layer (one image holding several
    commands): ``{in-image path: {platform: binary}}``, each needed for every platform.
    """
    if not binaries:
        raise ValueError("no binaries given")
    platforms = {Platform.parse(k): Path(v) for k, v in binaries.items()}
    for plat, path in platforms.items():
        if not path.is_file():
            raise FileNotFoundError(f"binary for {plat} not found: {path}")
    cfg = config or ImageConfig()
    in_image = "/" + normalize_path(binary_path or f"/usr/local/bin/{name}")
    companions = _companions(in_image, platforms, more_binaries or {})
    created = rfc3339(epoch)
    common = {ANNOTATION + "created": created}
    for key, value in (("source", source), ("revision", revision), ("version", version)):
        if value:
            common[ANNOTATION + key] = value
    common.update(annotations or {})

    writer = LayoutWriter(output)
    try:
        scratch = writer.scratch()
        order = sorted(platforms)

        def app_layer(plat: Platform) -> Layer:
            uid, gid = binary_owner
            tree: dict[str, EntrySource] = dict(extra_files or {})
            tree[in_image] = File(platforms[plat], mode=binary_mode, uid=uid, gid=gid)
            for path, per_platform in companions.items():
                tree[path] = File(per_platform[plat], mode=binary_mode, uid=uid, gid=gid)
            out = scratch / f"app-{plat.architecture}-{plat.variant}.tar.gz"
            return build_layer(tree, out, epoch=epoch, compresslevel=compresslevel)

        workers = max_workers or min(len(order), os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            building = pool.map(app_layer, order)  # compressing while the base is fetched
            bases = (base or StaticBase()).resolve(order, scratch)
            apps = dict(zip(order, building, strict=True))
        sources: dict[str, str] = {}

        images: list[PlatformImage] = []
        manifests: list[Descriptor] = []
        for plat in order:
            resolved, app = bases[plat], apps[plat]
            layers = (*resolved.layers, app)
            for layer in layers:
                if layer.path.exists():
                    writer.add_file(layer.path, layer.digest)
                elif resolved.blob_source and layer in resolved.layers:
                    sources[layer.digest] = resolved.blob_source
            added = ", ".join((in_image, *companions))
            cfg_json = _image_config(plat, resolved, app, cfg, in_image, added, created)
            cfg_desc, _ = writer.add_json(cfg_json, MEDIA_TYPE_CONFIG)
            manifest = {
                "schemaVersion": 2,
                "mediaType": MEDIA_TYPE_MANIFEST,
                "config": cfg_desc.to_json(),
                "layers": [Descriptor(la.media_type, la.digest, la.size).to_json() for la in layers],
                "annotations": {**common, **resolved.annotations},
            }
            man_desc, _ = writer.add_json(manifest, MEDIA_TYPE_MANIFEST, platform=plat)
            manifests.append(man_desc)
            images.append(
                PlatformImage(
                    platform=str(plat),
                    manifest_digest=man_desc.digest,
                    manifest_size=man_desc.size,
                    config_digest=cfg_desc.digest,
                    config_size=cfg_desc.size,
                    layers=tuple(LayerInfo(la.digest, la.size, la.diff_id, la.media_type) for la in layers),
                )
            )
        index = {
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_INDEX,
            "manifests": [m.to_json() for m in manifests],
            "annotations": common,
        }
        index_desc, _ = writer.add_json(index, MEDIA_TYPE_INDEX)
        names = tuple(ref_names)
        top = [
            Descriptor(MEDIA_TYPE_INDEX, index_desc.digest, index_desc.size, {REF_NAME: n}) for n in names
        ] or [index_desc]
        writer.commit(top)
    except BaseException:
        writer.abort()
        raise
    return ImageResult(output, index_desc.digest, index_desc.size, tuple(images), names, sources)
