"""A Helm chart directory turned into a reproducible chart package (``helm package`` semantics).

``Chart.yaml`` gets the release's ``version`` and ``appVersion``; ``values.yaml`` gets this run's
image digest at the values path the deploy config names. Both edits are line edits of block
YAML (gopipe has no YAML dependency): a top-level key in ``Chart.yaml``, and a dotted path of
nested mappings in ``values.yaml``, whose leaf must exist with a scalar value. Anything else is
refused with the key to add, never guessed. The package is ``<name>-<version>.tgz`` holding
``<name>/…``, files sorted, owner 0, the commit time as mtime, so one commit gives one digest.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

_TOP_KEY = re.compile(r"^(?P<key>[A-Za-z][\w-]*):(?P<rest>.*)$")
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w.-]*):(?P<rest>(?: .*)?)$")
_SCALAR_NAMES = ("apiVersion", "name", "version", "appVersion", "description", "type", "kubeVersion")


class ChartError(ValueError):
    """The chart cannot be packaged as asked; the message says what to change."""


@dataclass(frozen=True)
class ChartPackage:
    path: Path
    name: str
    version: str
    metadata: dict[str, str]


def _scalar(text: str) -> str:
    value = text.split(" #", 1)[0].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def set_chart_versions(text: str, version: str, app_version: str) -> tuple[str, dict[str, str]]:
    """``Chart.yaml`` with ``version``/``appVersion`` set, and its top-level scalar fields."""
    lines = text.splitlines()
    seen: set[str] = set()
    meta: dict[str, str] = {}
    for i, line in enumerate(lines):
        match = _TOP_KEY.match(line)
        if not match:
            continue
        key = match["key"]
        if key == "version":
            lines[i] = f"version: {json.dumps(version)}"
        elif key == "appVersion":
            lines[i] = f"appVersion: {json.dumps(app_version)}"
        seen.add(key)
        if key in _SCALAR_NAMES:
            meta[key] = _scalar(match["rest"])
    if "name" not in meta or not meta["name"]:
        raise ChartError("Chart.yaml has no top-level name")
    if "version" not in seen:
        lines.append(f"version: {json.dumps(version)}")
    if "appVersion" not in seen:
        lines.append(f"appVersion: {json.dumps(app_version)}")
    meta["version"], meta["appVersion"] = version, app_version
    meta.setdefault("apiVersion", "v2")
    return "\n".join(lines) + "\n", meta


def set_value(text: str, path: str, value: str) -> str:
    """``values.yaml`` with the scalar at the dotted ``path`` set to ``value`` (a quoted string)."""
    parts = path.split(".")
    if not path or any(not re.fullmatch(r"[A-Za-z_][\w-]*", p) for p in parts):
        raise ChartError(f"values path {path!r} is not a dotted path of keys")
    lines = text.splitlines()
    stack: list[tuple[int, str]] = []  # the mapping keys enclosing the current line
    for i, line in enumerate(lines):
        match = _KEY.match(line)
        if not match:
            continue
        here = len(match["indent"])
        while stack and stack[-1][0] >= here:
            stack.pop()
        stack.append((here, match["key"]))
        if [key for _, key in stack] != parts:
            continue
        rest = match["rest"].strip()
        following = [x for x in lines[i + 1 :] if x.strip() and not x.lstrip().startswith("#")]
        deeper = bool(following) and len(following[0]) - len(following[0].lstrip()) > here
        if rest.startswith(("|", ">", "&", "*", "{", "[")) or (not rest and deeper):
            raise ChartError(f"values path {path!r} holds a block, not a scalar")
        lines[i] = f"{match['indent']}{parts[-1]}: {json.dumps(value)}"
        return "\n".join(lines) + "\n"
    raise ChartError(f'values.yaml has no {path!r}; add it (e.g. {parts[-1]}: "") where the chart reads it')


def package_chart(
    chart: Path, out_dir: Path, *, version: str, app_version: str, values: dict[str, str], mtime: int
) -> ChartPackage:
    """Package ``chart`` into ``out_dir`` with the versions and values set."""
    chart_yaml = chart / "Chart.yaml"
    if not chart_yaml.is_file():
        raise ChartError(f"{chart.name}/Chart.yaml is missing")
    text, meta = set_chart_versions(chart_yaml.read_text(encoding="utf-8"), version, app_version)
    name = meta["name"]
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", name):
        raise ChartError(f"chart name {name!r} is not a Helm chart name (lower case, digits, '-')")
    members: dict[str, bytes] = {}
    for path in sorted(chart.rglob("*")):
        rel = path.relative_to(chart).as_posix()
        if any(part.startswith(".") for part in rel.split("/")):
            continue  # .helmignore, editor files: helm package leaves dot files out by default
        if path.is_symlink():
            raise ChartError(f"{chart.name}/{rel} is a symlink; a chart package holds plain files")
        if path.is_file():
            members[rel] = path.read_bytes()
    members["Chart.yaml"] = text.encode()
    if values:
        current = members.get("values.yaml", b"").decode("utf-8")
        for key, value in values.items():
            current = set_value(current, key, value)
        members["values.yaml"] = current.encode()
    out = out_dir / f"{name}-{version}.tgz"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in sorted(members):
            info = tarfile.TarInfo(f"{name}/{rel}")
            info.size, info.mtime, info.mode = len(members[rel]), mtime, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(members[rel]))
    with out.open("wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=mtime) as gz:
        gz.write(raw.getvalue())
    return ChartPackage(out, name, version, meta)
