"""CycloneDX 1.5 SBOMs from the build info the Go linker embeds in every binary.

Why CycloneDX rather than SPDX 2.3: a Go binary is one application with a flat list of
modules, which CycloneDX says directly (``metadata.component`` + ``components`` + one
``dependencies`` entry) while SPDX needs a package, a relationship and ``NOASSERTION``
licence/download fields per module. CycloneDX ``properties`` carry the Go build settings
(GOOS, CGO_ENABLED, -trimpath, vcs.revision) without inventing fields, the layout matches
what cyclonedx-gomod emits (``pkg:golang`` purls, ``h1:`` sums as SHA-256 hashes), so
Dependency-Track, grype and trivy read it as they read that tool's output, and the
official JSON schema ships with ``cyclonedx-python-lib`` so tests validate against it.

Why the build info rather than ``go.mod``: it lists exactly the modules linked into this
binary for this GOOS/GOARCH (test-only and other-platform dependencies are absent) and it
cannot drift from what was shipped. It is read with ``go version -m -json`` (Go ≥ 1.22);
older toolchains print the same data as text, parsed by :func:`parse_text`.

The document is reproducible: the timestamp is the commit time and the serial number is
derived from the binary's SHA-256, so the same binary always gives the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

SPEC_VERSION = "1.5"
MEDIA_TYPE = "application/vnd.cyclonedx+json"
PROPERTY_PREFIX = "gopipe:go:"


class BuildInfoError(Exception):
    """The binary has no readable Go build info (not a Go binary, or stripped of it)."""


@dataclass(frozen=True)
class Module:
    """One module line of the build info (``mod``/``dep``), with its ``=>`` replacement."""

    path: str
    version: str
    sum: str = ""
    replace: Module | None = None

    @property
    def effective(self) -> Module:
        """The module whose code was linked: the replacement when there is one."""
        return self.replace or self


@dataclass(frozen=True)
class BuildInfo:
    """What ``runtime/debug.BuildInfo`` holds: Go version, main package/module, deps, settings."""

    go_version: str
    path: str
    main: Module
    deps: tuple[Module, ...]
    settings: tuple[tuple[str, str], ...]

    def setting(self, key: str) -> str | None:
        return next((v for k, v in self.settings if k == key), None)


def _module(data: Mapping[str, Any] | None) -> Module | None:
    if not data:
        return None
    return Module(
        path=str(data.get("Path", "")),
        version=str(data.get("Version", "")),
        sum=str(data.get("Sum", "")),
        replace=_module(data.get("Replace")),
    )


def parse_json(text: str) -> BuildInfo:
    """Parse ``go version -m -json`` output (``debug.BuildInfo`` as JSON)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BuildInfoError(f"go version -m -json printed no JSON: {exc}") from None
    main = _module(data.get("Main")) or Module(path="", version="")
    deps = tuple(m for m in (_module(d) for d in data.get("Deps") or []) if m is not None)
    settings = tuple((str(s.get("Key", "")), str(s.get("Value", ""))) for s in data.get("Settings") or [])
    return BuildInfo(
        go_version=str(data.get("GoVersion", "")),
        path=str(data.get("Path", "")),
        main=main,
        deps=deps,
        settings=settings,
    )


def _unquote(value: str) -> str:
    """Undo the strconv.Quote Go applies to build settings with spaces, quotes or tabs."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return str(json.loads(value))
        except json.JSONDecodeError:
            return value[1:-1]
    return value


def parse_text(text: str) -> BuildInfo:
    """Parse the tab-separated ``go version -m`` output that every Go version prints."""
    lines = text.splitlines()
    if not lines or ": go" not in lines[0]:
        raise BuildInfoError("go version -m printed no build info")
    go_version = lines[0].rsplit(": ", 1)[1].strip()
    path = ""
    main = Module(path="", version="")
    deps: list[Module] = []
    settings: list[tuple[str, str]] = []
    last: str | None = None  # "mod" or "dep": what a following "=>" line replaces
    for raw in lines[1:]:
        fields = raw.strip("\n").lstrip("\t").split("\t")
        kind, rest = fields[0], fields[1:]
        if kind == "path" and rest:
            path = rest[0]
        elif kind in ("mod", "dep") and rest:
            mod = Module(rest[0], rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else "")
            if kind == "mod":
                main = mod
            else:
                deps.append(mod)
            last = kind
        elif kind == "=>" and rest and last is not None:
            repl = Module(rest[0], rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else "")
            if last == "mod":
                main = Module(main.path, main.version, main.sum, repl)
            else:
                prev = deps.pop()
                deps.append(Module(prev.path, prev.version, prev.sum, repl))
        elif kind == "build" and rest:
            key, _, value = "\t".join(rest).partition("=")
            settings.append((_unquote(key), _unquote(value)))
    return BuildInfo(go_version=go_version, path=path, main=main, deps=tuple(deps), settings=tuple(settings))


Runner = Callable[[Sequence[str]], tuple[int, str, str]]


def read_build_info(go: str, binary: Path, run: Runner) -> BuildInfo:
    """Build info of *binary*: ``go version -m -json``, else the text form.

    *run* executes a command and returns (exit code, stdout, stderr); the provider passes
    ``ctx.sh`` so the calls are logged and cancellable like every other process.
    """
    code, out, _ = run([go, "version", "-m", "-json", str(binary)])
    if code == 0 and out.lstrip().startswith("{"):
        return parse_json(out)
    code, out, err = run([go, "version", "-m", str(binary)])
    if code != 0 or not out.strip():
        reason = (err or out).strip().splitlines()[-1:] or ["no build info"]
        raise BuildInfoError(f"go version -m {binary.name}: {reason[0][-200:]}")
    return parse_text(out)


def h1_to_sha256(go_sum: str) -> str | None:
    """``h1:<base64>`` (SHA-256 of the module's file tree, dirhash) as hex, as cyclonedx-gomod does."""
    if not go_sum.startswith("h1:"):
        return None
    try:
        raw = base64.b64decode(go_sum[3:], validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def purl(path: str, version: str, **qualifiers: str) -> str:
    """``pkg:golang/<module path>@<version>?type=module`` with purl percent-encoding."""
    segments = "/".join(quote(seg, safe="") for seg in path.split("/") if seg)
    out = f"pkg:golang/{segments}"
    if version:
        out += "@" + quote(version, safe="")
    quals = {"type": "module", **qualifiers}
    return out + "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in sorted(quals.items()) if v)


def _rfc3339(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dep_component(mod: Module) -> dict[str, Any]:
    used = mod.effective
    version = used.version or "(devel)"
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": purl(mod.path, version),
        "name": mod.path,
        "version": version,
        "scope": "required",
        "purl": purl(mod.path, version),
    }
    digest = h1_to_sha256(used.sum)
    if digest:
        component["hashes"] = [{"alg": "SHA-256", "content": digest}]
    props = []
    if used.sum:
        props.append({"name": PROPERTY_PREFIX + "sum", "value": used.sum})
    if mod.replace is not None:
        target = f"{mod.replace.path} {mod.replace.version}".strip()
        props.append({"name": PROPERTY_PREFIX + "replaced", "value": f"{mod.path} {mod.version} => {target}"})
    if props:
        component["properties"] = props
    return component


def cyclonedx(
    info: BuildInfo,
    *,
    binary_name: str,
    binary_sha256: str,
    version: str,
    goos: str,
    goarch: str,
    epoch: int,
    tool_version: str,
    vcs_url: str | None = None,
) -> dict[str, Any]:
    """A CycloneDX 1.5 BOM for one binary: the application, its modules and the Go stdlib."""
    main_version = info.main.version if info.main.version not in ("", "(devel)") else version
    main_ref = purl(info.main.path or binary_name, main_version, goos=goos, goarch=goarch)
    application: dict[str, Any] = {
        "type": "application",
        "bom-ref": main_ref,
        "name": binary_name,
        "version": version,
        "purl": main_ref,
        "hashes": [{"alg": "SHA-256", "content": binary_sha256}],
        "properties": [
            {"name": PROPERTY_PREFIX + "version", "value": info.go_version},
            {"name": PROPERTY_PREFIX + "package", "value": info.path},
            {"name": PROPERTY_PREFIX + "module", "value": info.main.path},
            *({"name": PROPERTY_PREFIX + "build:" + k, "value": v} for k, v in info.settings),
        ],
    }
    if info.main.sum:
        application["properties"].append({"name": PROPERTY_PREFIX + "sum", "value": info.main.sum})
    if vcs_url:
        application["externalReferences"] = [{"type": "vcs", "url": vcs_url}]
    components = [_dep_component(m) for m in sorted(info.deps, key=lambda m: m.path)]
    if info.go_version:
        std_ref = purl("std", info.go_version)
        components.append(
            {
                "type": "library",
                "bom-ref": std_ref,
                "name": "std",
                "version": info.go_version,
                "scope": "required",
                "purl": std_ref,
                "description": "Go standard library",
            }
        )
    seen: set[str] = set()
    unique = []
    for c in components:  # two deps can share a purl only through odd replaces; keep refs unique
        if c["bom-ref"] not in seen:
            seen.add(c["bom-ref"])
            unique.append(c)
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": uuid.uuid5(uuid.NAMESPACE_URL, f"gopipe:sbom:{binary_sha256}").urn,
        "version": 1,
        "metadata": {
            "timestamp": _rfc3339(epoch),
            "lifecycles": [{"phase": "build"}],
            "tools": {"components": [{"type": "application", "name": "gopipe", "version": tool_version}]},
            "component": application,
        },
        "components": unique,
        "dependencies": [{"ref": main_ref, "dependsOn": [c["bom-ref"] for c in unique]}],
    }


def dumps(bom: Mapping[str, Any]) -> bytes:
    """Stable serialisation (insertion order, two-space indent, trailing newline)."""
    return (json.dumps(bom, indent=2, ensure_ascii=False) + "\n").encode()
