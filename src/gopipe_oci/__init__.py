"""Reproducible OCI images and a small OCI distribution client (no Docker daemon).

Build: :func:`build_image` (Go binaries per platform -> OCI layout with an image index).
Ship: :func:`push_layout`, :func:`pull_layout`, :func:`push_artifact` with a
:class:`RegistryClient`. See docs/oci.md for the design and reproducibility rules.

The names below are imported on first use (PEP 562): ``from gopipe_oci import RetryPolicy``
loads the retry module only, not the HTTP, TLS and image stacks (every gopipe run reads the
remote cache's options, which use it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .artifact import ArtifactFile, ArtifactResult, push_artifact, write_artifact
    from .auth import Credentials, load_docker_credentials
    from .base import LayoutBase, RegistryBase, ScratchBase, StaticBase
    from .errors import (
        AuthError,
        DigestMismatchError,
        NotFoundError,
        OciError,
        RegistryError,
        RetryExhaustedError,
        TooLargeError,
    )
    from .helm import HELM_CHART, HELM_CONFIG, chart_tag, push_chart, write_chart_layout
    from .image import ImageConfig, ImageResult, LayerInfo, PlatformImage, build_image
    from .layer import Dir, File, Layer, Symlink, build_layer
    from .layout import Descriptor, Layout
    from .platforms import Platform
    from .reference import Reference, sanitize_tag
    from .registry import Fetched, PullResult, PushResult, RegistryClient, pull_layout, push_layout
    from .retry import RetryPolicy

_EXPORTS: dict[str, str] = {
    "ArtifactFile": "artifact",
    "ArtifactResult": "artifact",
    "AuthError": "errors",
    "Credentials": "auth",
    "Descriptor": "layout",
    "DigestMismatchError": "errors",
    "Dir": "layer",
    "Fetched": "registry",
    "File": "layer",
    "HELM_CHART": "helm",
    "HELM_CONFIG": "helm",
    "ImageConfig": "image",
    "ImageResult": "image",
    "Layer": "layer",
    "LayerInfo": "image",
    "Layout": "layout",
    "LayoutBase": "base",
    "NotFoundError": "errors",
    "OciError": "errors",
    "Platform": "platforms",
    "PlatformImage": "image",
    "PullResult": "registry",
    "PushResult": "registry",
    "Reference": "reference",
    "RegistryBase": "base",
    "RegistryClient": "registry",
    "RegistryError": "errors",
    "RetryExhaustedError": "errors",
    "RetryPolicy": "retry",
    "ScratchBase": "base",
    "StaticBase": "base",
    "Symlink": "layer",
    "TooLargeError": "errors",
    "build_image": "image",
    "build_layer": "layer",
    "chart_tag": "helm",
    "load_docker_credentials": "auth",
    "pull_layout": "registry",
    "push_artifact": "artifact",
    "push_chart": "helm",
    "push_layout": "registry",
    "sanitize_tag": "reference",
    "write_artifact": "artifact",
    "write_chart_layout": "helm",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "HELM_CHART",
    "HELM_CONFIG",
    "ArtifactFile",
    "ArtifactResult",
    "AuthError",
    "Credentials",
    "Descriptor",
    "DigestMismatchError",
    "Dir",
    "Fetched",
    "File",
    "ImageConfig",
    "ImageResult",
    "Layer",
    "LayerInfo",
    "Layout",
    "LayoutBase",
    "NotFoundError",
    "OciError",
    "Platform",
    "PlatformImage",
    "PullResult",
    "PushResult",
    "Reference",
    "RegistryBase",
    "RegistryClient",
    "RegistryError",
    "RetryExhaustedError",
    "RetryPolicy",
    "ScratchBase",
    "StaticBase",
    "Symlink",
    "TooLargeError",
    "build_image",
    "build_layer",
    "chart_tag",
    "load_docker_credentials",
    "pull_layout",
    "push_artifact",
    "push_chart",
    "push_layout",
    "sanitize_tag",
    "write_artifact",
    "write_chart_layout",
]
