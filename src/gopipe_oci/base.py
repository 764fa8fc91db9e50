"""Base images: a built-in distroless/static-like base, ``scratch``, a local OCI layout, or one
pulled from a registry.

Static base choices (see docs/oci.md):

* The CA bundle is the copy shipped in ``gopipe_oci/data/ca-certificates.crt``: Mozilla's list
  from a pinned ``certifi`` wheel, recorded (version, wheel sha256, bundle sha256, licence) in
  ``ca-certificates.json`` and refreshed with ``scripts/refresh-ca-bundle.py``. Reading the
  *installed* certifi made the digest depend on the machine (certifi is not pinned where
  gopipe is installed); a system bundle differs between distributions and update levels.
  Pass ``ca_bundle=`` to use another file (e.g. ``/etc/ssl/certs/...``).
* tzdata is opt-in (``tzdata=True``) because it is copied from the build machine's
  ``/usr/share/zoneinfo``, which is not reproducible across machines.
* The base layer uses its own fixed epoch (0 by default), not the commit time, so its digest
  does not change between commits and registries share the blob across releases.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .digest import (
    DOCKER_LAYER_GZIP,
    INDEX_MEDIA_TYPES,
    MANIFEST_MEDIA_TYPES,
    MEDIA_TYPE_LAYER_GZIP,
)
from .layer import Dir, EntrySource, File, Layer, build_layer
from .platforms import Platform
from .reference import Reference

if TYPE_CHECKING:
    from .registry import RegistryClient

PASSWD = b"""root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
"""
GROUP = b"""root:x:0:
nobody:x:65534:
nonroot:x:65532:
"""
NSSWITCH = b"hosts: files dns\n"
CA_PATH = "/etc/ssl/certs/ca-certificates.crt"


@dataclass(frozen=True)
class ResolvedBase:
    """What one platform's image inherits: layers, the base config JSON and history."""

    layers: tuple[Layer, ...]
    config: Mapping[str, Any] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    #: ``host/repository`` holding the layers that were not downloaded (their ``path`` does
    #: not exist): a push mounts or copies them from there (:func:`.registry.push_layout`)
    blob_source: str = ""


class Base(Protocol):
    def resolve(self, platforms: Sequence[Platform], scratch: Path) -> dict[Platform, ResolvedBase]:
        """Produce the base for each platform; layer files go under *scratch*."""
        ...


_DATA = Path(__file__).resolve().parent / "data"
CA_BUNDLE = _DATA / "ca-certificates.crt"


@dataclass(frozen=True)
class CaBundleSource:
    """Where a base's CA bundle came from, as the outputs and the provenance record it."""

    sha256: str
    origin: str  # "pypi:certifi==2026.10.19.post1 (shipped with gopipe)" or the file given
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "origin": self.origin, **dict(self.details)}


def shipped_ca_bundle() -> tuple[Path, CaBundleSource]:
    """The bundle shipped with gopipe and its recorded source (checked against the file)."""
    record = json.loads((_DATA / "ca-certificates.json").read_text(encoding="utf-8"))
    actual = hashlib.sha256(CA_BUNDLE.read_bytes()).hexdigest()
    if actual != record["sha256"]:
        raise RuntimeError(
            f"{CA_BUNDLE} does not match ca-certificates.json (sha256 {actual}); "
            "restore it or run scripts/refresh-ca-bundle.py"
        )
    origin = f"pypi:{record['package']}=={record['version']} (shipped with gopipe)"
    return CA_BUNDLE, CaBundleSource(actual, origin, record)


def default_ca_bundle() -> tuple[Path, str]:
    """The shipped bundle's path and a label naming its source (for the image history)."""
    path, source = shipped_ca_bundle()
    return path, f"CA bundle certifi {source.details['version']}"


@dataclass(frozen=True)
class StaticBase:
    """A minimal static base like distroless/static, built locally (no registry needed)."""

    ca_bundle: Path | None = None
    tzdata: bool = False
    zoneinfo: Path = Path("/usr/share/zoneinfo")
    epoch: int = 0

    def ca_source(self) -> tuple[bytes, CaBundleSource, str]:
        """The CA bundle's bytes, where they came from, and the label for the history."""
        if self.ca_bundle is None:
            path, source = shipped_ca_bundle()
            return path.read_bytes(), source, f"CA bundle certifi {source.details['version']}"
        data = self.ca_bundle.read_bytes()
        source = CaBundleSource(hashlib.sha256(data).hexdigest(), f"file:{self.ca_bundle.name}")
        return data, source, f"CA bundle {self.ca_bundle.name}"

    def entries(self) -> tuple[dict[str, EntrySource], str]:
        """The base file tree and a human description for the image history."""
        ca, _, ca_label = self.ca_source()
        tree: dict[str, EntrySource] = {
            "/etc/passwd": PASSWD,
            "/etc/group": GROUP,
            "/etc/nsswitch.conf": NSSWITCH,
            CA_PATH: File(ca),
            "/home/nonroot": Dir(mode=0o700, uid=65532, gid=65532),
            "/root": Dir(mode=0o700),
            "/tmp": Dir(mode=0o1777),
        }
        desc = f"gopipe static base ({ca_label})"
        if self.tzdata:
            if not self.zoneinfo.is_dir():
                raise FileNotFoundError(f"tzdata requested but {self.zoneinfo} is missing")
            tree["/usr/share/zoneinfo"] = self.zoneinfo
            desc += ", tzdata"
        return tree, desc

    def resolve(self, platforms: Sequence[Platform], scratch: Path) -> dict[Platform, ResolvedBase]:
        tree, desc = self.entries()
        layer = build_layer(tree, scratch / "static-base.tar.gz", epoch=self.epoch)
        resolved = ResolvedBase(layers=(layer,), description=desc)
        return {p: resolved for p in platforms}


@dataclass(frozen=True)
class RegistryBase:
    """A base image pulled by reference (``host/repo:tag`` or ``host/repo@sha256:...``).

    ``copy_layers=False`` reads only the manifests and configs: the layers stay in the base's
    registry (as ko leaves them), the layout written from it lacks them, and a push mounts them
    into the target repository (same registry) or copies them registry to registry."""

    reference: str
    client: RegistryClient | None = None
    copy_layers: bool = True

    def resolve(self, platforms: Sequence[Platform], scratch: Path) -> dict[Platform, ResolvedBase]:
        from .registry import RegistryClient

        ref = Reference.parse(self.reference)
        client = self.client or RegistryClient(ref.registry)
        top = client.get_manifest(ref.repository, ref.identifier)
        out: dict[Platform, ResolvedBase] = {}
        for plat in platforms:
            if top.media_type in INDEX_MEDIA_TYPES:
                manifest_ref = _pick(json.loads(top.data), plat, self.reference)
                fetched = client.get_manifest(ref.repository, manifest_ref)
            else:
                fetched = top
            if fetched.media_type not in MANIFEST_MEDIA_TYPES:
                raise ValueError(f"{self.reference}: unsupported manifest type {fetched.media_type}")
            manifest = json.loads(fetched.data)
            config = json.loads(client.get_blob(ref.repository, manifest["config"]["digest"]))
            if top is fetched and not plat.matches(Platform.from_json(config)):
                raise ValueError(f"{self.reference} is a single-platform image, not {plat}")
            diff_ids = config.get("rootfs", {}).get("diff_ids", [])
            if len(diff_ids) != len(manifest["layers"]):
                raise ValueError(f"{self.reference}: layer count does not match diff_ids")
            layers = []
            for desc, diff_id in zip(manifest["layers"], diff_ids, strict=True):
                path = scratch / ("base-" + desc["digest"].replace(":", "-"))
                if self.copy_layers and not path.exists():
                    client.download_blob(ref.repository, desc["digest"], path)
                layers.append(_base_layer(desc, diff_id, path))
            out[plat] = ResolvedBase(
                layers=tuple(layers),
                config=config,
                annotations={
                    "org.opencontainers.image.base.name": ref.name_with_tag(),
                    "org.opencontainers.image.base.digest": fetched.digest,
                },
                description=f"base {ref.name_with_tag()}@{fetched.digest}",
                blob_source="" if self.copy_layers else f"{ref.registry}/{ref.repository}",
            )
        return out


@dataclass(frozen=True)
class ScratchBase:
    """No base at all (``FROM scratch``): the image holds only what gopipe adds."""

    def resolve(self, platforms: Sequence[Platform], scratch: Path) -> dict[Platform, ResolvedBase]:
        return {p: ResolvedBase(layers=(), description="scratch") for p in platforms}


@dataclass(frozen=True)
class LayoutBase:
    """A base read from a local OCI image layout (``oci:PATH`` or ``oci:PATH:REF``), e.g. one
    ``skopeo copy``/``crane`` wrote, or a previous gopipe build. Every blob is checked against
    its digest before it is used."""

    path: Path
    ref_name: str | None = None

    def resolve(self, platforms: Sequence[Platform], scratch: Path) -> dict[Platform, ResolvedBase]:
        from .layout import Layout

        lay = Layout(self.path)
        if not (self.path / "index.json").is_file():
            raise ValueError(f"{self.path} is not an OCI layout (no index.json)")
        top = lay.resolve(self.ref_name)
        shown = f"oci:{self.path.name}" + (f":{self.ref_name}" if self.ref_name else "")
        out: dict[Platform, ResolvedBase] = {}
        for plat in platforms:
            digest, media = top.digest, top.media_type
            if media in INDEX_MEDIA_TYPES:
                digest = _pick(lay.read_json(top.digest), plat, shown)
                media = MANIFEST_MEDIA_TYPES[0]
            manifest = lay.read_json(digest)
            media = str(manifest.get("mediaType") or media)
            if media not in MANIFEST_MEDIA_TYPES:
                raise ValueError(f"{shown}: unsupported manifest type {media}")
            config = lay.read_json(manifest["config"]["digest"])
            if top.media_type not in INDEX_MEDIA_TYPES and not plat.matches(Platform.from_json(config)):
                raise ValueError(f"{shown} is a single-platform image, not {plat}")
            diff_ids = config.get("rootfs", {}).get("diff_ids", [])
            if len(diff_ids) != len(manifest["layers"]):
                raise ValueError(f"{shown}: layer count does not match diff_ids")
            layers = []
            for desc, diff_id in zip(manifest["layers"], diff_ids, strict=True):
                path = lay.blob_path(desc["digest"])
                if _file_digest(path) != desc["digest"]:
                    raise ValueError(f"{shown}: blob {desc['digest']} is corrupt")
                layers.append(_base_layer(desc, diff_id, path))
            out[plat] = ResolvedBase(
                layers=tuple(layers),
                config=config,
                annotations={"org.opencontainers.image.base.digest": digest},
                description=f"base {shown}@{digest}",
            )
        return out


def _file_digest(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _pick(index: Mapping[str, Any], plat: Platform, name: str) -> str:
    for entry in index.get("manifests", []):
        if isinstance(entry.get("platform"), Mapping) and plat.matches(Platform.from_json(entry["platform"])):
            return str(entry["digest"])
    raise ValueError(f"base image {name} has no manifest for {plat}")


def _base_layer(desc: dict[str, Any], diff_id: str, path: Path) -> Layer:
    """A base image's layer as the image builder takes it, from its manifest descriptor
    (Docker's gzip media type is written as the OCI one, as registries and layouts agree)."""
    kind = desc["mediaType"]
    return Layer(
        path=path,
        digest=desc["digest"],
        size=int(desc["size"]),
        diff_id=diff_id,
        uncompressed_size=-1,
        media_type=MEDIA_TYPE_LAYER_GZIP if kind == DOCKER_LAYER_GZIP else kind,
    )
