"""Render a manifest directory or kustomization into JSON objects, without a YAML library.

``kubectl kustomize`` renders kustomizations; plain directories are concatenated into one YAML
stream. ``kubectl annotate --local -o json`` then turns the YAML into JSON offline, adding
``gopipe.dev/commit`` and ``gopipe.dev/version`` annotations that say which commit an object
came from (visible in ``kubectl describe``, harmless to controllers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from gopipe.context import ProviderContext
from gopipe.errors import StageFailed

from .kube import Kube, Obj, last_line, parse_json_stream

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_SUFFIXES = (".yaml", ".yml", ".json")


def manifest_dir(ctx: ProviderContext[Any], rel: str, key: str) -> Path:
    """The manifest directory ``rel`` (relative to the repository); one that leaves the
    repository is a ConfigError naming ``key``."""
    path = ctx.repo_path(rel, key)
    if not path.is_dir():
        raise StageFailed(f"{key}: {rel} is not a directory in the repository")
    return path


def is_kustomization(path: Path) -> bool:
    return any((path / name).is_file() for name in KUSTOMIZATION_FILES)


def render(
    ctx: ProviderContext[Any], kube: Kube, source: Path, mode: Literal["auto", "always", "never"]
) -> tuple[list[Obj], str]:
    """Objects rendered from ``source`` and how (``kustomize`` or ``plain``)."""
    use_kustomize = mode == "always" or (mode == "auto" and is_kustomization(source))
    stream = kube.access.workdir / "manifests.yaml"
    shown = _shown(ctx, source)
    if use_kustomize:
        res = kube.run("kustomize", str(source), namespaced=False)
        if not res.ok:
            raise StageFailed(f"kubectl kustomize {shown} failed: {last_line(res)}", details=res.stderr)
        stream.write_text(res.stdout, encoding="utf-8")
        how = "kustomize"
    else:
        files = sorted(
            p
            for p in source.iterdir()
            if p.is_file() and p.suffix in _SUFFIXES and p.name not in KUSTOMIZATION_FILES
        )
        if not files:
            raise StageFailed(f"no manifests (*.yaml, *.yml, *.json) in {shown}")
        stream.write_text("\n---\n".join(p.read_text(encoding="utf-8") for p in files), encoding="utf-8")
        how = "plain"
    git = ctx.git
    res = kube.run(
        "annotate",
        "--local",
        "--overwrite",
        "-f",
        str(stream),
        "-o",
        "json",
        f"gopipe.dev/commit={git.sha}",
        f"gopipe.dev/version={git.version}",
        namespaced=False,
    )
    if not res.ok:
        raise StageFailed(
            f"manifests in {shown} are not valid Kubernetes objects: {last_line(res)}", details=res.stderr
        )
    objects = parse_json_stream(res.stdout)
    if not objects:
        raise StageFailed(f"{shown} renders no objects")
    return objects, how


def _shown(ctx: ProviderContext[Any], path: Path) -> str:
    try:
        return str(path.relative_to(ctx.root))
    except ValueError:
        return str(path)
