"""Reproducible OCI images and a small OCI distribution client (no Docker daemon).

Build: :func:`build_image` (Go binaries per platform -> OCI layout with an image index).
Ship: :func:`push_layout`, :func:`pull_layout`, :func:`push_artifact` with a
:class:`RegistryClient`. See docs/oci.md for the design and reproducibility rules.
"""

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
