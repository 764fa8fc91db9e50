"""Dry runs: print the rendered objects and ``kubectl diff`` against the cluster, change nothing.

Secret objects are shown with their data masked, and their values are registered with the
run's redactor so the diff (which kubectl masks too) cannot leak them through another path.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import re
from pathlib import Path
from typing import Any

from gopipe.context import ProviderContext
from gopipe.errors import StageFailed

from .kube import Kube, Obj, last_line, write_list

_DIFF_HEADER = re.compile(r"^diff -u -N \S+ \S+/(?P<name>\S+)$")


def register_secret_data(ctx: ProviderContext[Any], objects: list[Obj]) -> None:
    """Mask the values of Secret objects everywhere from now on."""
    for obj in objects:
        if obj.get("kind") != "Secret":
            continue
        for value in (obj.get("data") or {}).values():
            ctx.add_secret(str(value))
            with contextlib.suppress(binascii.Error, UnicodeDecodeError, ValueError):
                ctx.add_secret(base64.b64decode(str(value)).decode("utf-8"))
        for value in (obj.get("stringData") or {}).values():
            ctx.add_secret(str(value))


def masked(objects: list[Obj]) -> list[Obj]:
    out = []
    for obj in objects:
        if obj.get("kind") == "Secret":
            obj = copy.deepcopy(obj)
            for field in ("data", "stringData"):
                if isinstance(obj.get(field), dict):
                    obj[field] = dict.fromkeys(obj[field], "***")
        out.append(obj)
    return out


def out_dir(ctx: ProviderContext[Any], environment: str) -> Path:
    """``dist/gopipe/deploy/<environment>``; a name that would leave it is refused (ConfigError)."""
    path = ctx.dist_path(environment, f"tool.gopipe.deploy.environments.{environment}", under="gopipe/deploy")
    path.mkdir(parents=True, exist_ok=True)
    return path


def print_block(ctx: ProviderContext[Any], title: str, text: str) -> None:
    """Show a block on the console (dry-run output is what the user asked to see)."""
    ctx.echo(f"--- {title} ---")
    for line in text.rstrip("\n").splitlines():
        ctx.echo(line)


def show_objects(
    ctx: ProviderContext[Any], kube: Kube, objects: list[Obj], environment: str, title: str
) -> Path:
    """Print the objects as YAML (kubectl renders it; no YAML library) and save them."""
    register_secret_data(ctx, objects)
    source = write_list(kube.access.workdir / "shown.json", masked(objects))
    res = kube.run(
        "annotate",
        "--local",
        "--overwrite",
        "-f",
        str(source),
        "-o",
        "yaml",
        f"gopipe.dev/commit={ctx.git.sha}",
        namespaced=False,
    )
    if not res.ok:
        raise StageFailed(f"could not print the rendered objects: {last_line(res)}", details=res.stderr)
    path = out_dir(ctx, environment) / "rendered.yaml"
    text = ctx.redact(res.stdout)
    path.write_text(text, encoding="utf-8")
    print_block(ctx, title, text)
    return path


def show_diff(
    ctx: ProviderContext[Any], kube: Kube, manifest: Path, environment: str, field_manager: str
) -> int:
    """``kubectl diff`` (server-side, so admission and defaults apply); objects that would change."""
    res = kube.run(
        "diff", "--server-side", f"--field-manager={field_manager}", "--force-conflicts", "-f", str(manifest)
    )
    if res.returncode not in (0, 1):
        raise StageFailed(f"kubectl diff failed: {last_line(res)}", details=res.stderr)
    text = ctx.redact(res.stdout)
    (out_dir(ctx, environment) / "diff.txt").write_text(text, encoding="utf-8")
    changed = [m["name"] for m in map(_DIFF_HEADER.match, text.splitlines()) if m]
    print_block(
        ctx, f"{environment}: kubectl diff ({len(changed)} objects would change)", text or "(no changes)\n"
    )
    return len(changed)
