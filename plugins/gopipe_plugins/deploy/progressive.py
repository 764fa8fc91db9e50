"""Shared by the progressive-delivery deployers (Argo Rollouts, Flagger).

Both start a release the way their controllers expect, by changing a pod template's images,
then only *read* the status their controller writes. The change is a JSON patch with a
``test`` operation per image, so a concurrent edit (someone else's deploy) makes the patch fail
instead of being overwritten silently.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gopipe.context import ProviderContext
from gopipe.errors import StageFailed

from .image_pins import Replacement, pin_images
from .kube import Kube, Obj, last_line
from .options import ImageOptions
from .show import print_block


@dataclass(frozen=True)
class ImagePatch:
    ops: list[dict[str, Any]]
    pinned: list[Replacement]
    patched: Obj  # the object as it will look after the patch


def image_patch(ctx: ProviderContext[ImageOptions], obj: Obj, where: str) -> ImagePatch:
    """JSON patch operations that pin ``obj``'s pod template images to the pushed digests."""
    patched = copy.deepcopy(obj)
    pinned = pin_images(ctx, [patched], ctx.options.images, where)
    before = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    after = ((patched.get("spec") or {}).get("template") or {}).get("spec") or {}
    ops: list[dict[str, Any]] = []
    for field in ("initContainers", "containers"):
        for i, (old, new) in enumerate(zip(before.get(field) or [], after.get(field) or [], strict=True)):
            if old.get("image") != new.get("image"):
                path = f"/spec/template/spec/{field}/{i}/image"
                ops += [
                    {"op": "test", "path": path, "value": old["image"]},
                    {"op": "replace", "path": path, "value": new["image"]},
                ]
    return ImagePatch(ops, pinned, patched)


def apply_patch(kube: Kube, resource: str, patch: ImagePatch, field_manager: str = "gopipe") -> Obj:
    """Apply the image patch; a failed ``test`` means someone changed the object meanwhile."""
    res = kube.patch(resource, patch.ops, field_manager=field_manager)
    if not res.ok:
        why = last_line(res)
        if "test operation" in why or "testing value" in why:
            why = f"{resource} changed while gopipe was deploying ({why}); rerun the deploy"
        raise StageFailed(f"could not update the images of {resource}: {why}", details=res.stderr)
    return dict(json.loads(res.stdout))


def show_plan(ctx: ProviderContext[Any], environment: str, resource: str, patch: ImagePatch) -> None:
    """Dry run: what would change, without changing it."""
    lines = [
        f"{r.object} container {r.container}: {r.old} -> {r.new}" for r in patch.pinned if r.old != r.new
    ] or ["(no changes: the images are already pinned)"]
    lines.append("patch: " + json.dumps(patch.ops))
    print_block(ctx, f"{environment}: {resource}", "\n".join(lines))


def status_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}
