"""``nfpm`` packager: deb, rpm, apk and archlinux packages of the linux binaries, with nFPM.

nFPM (the Go tool GoReleaser uses) is pinned in :data:`gopipe.gotools.TOOLS` and installed on
first use. gopipe writes its config (JSON, which nFPM reads as YAML) from
``[tool.gopipe.package.nfpm]`` after checking every path: sources must resolve inside the
repository, destinations must be absolute paths without ``..``. Globbing is off, so a source
names exactly one file. Packages are reproducible: every file's mtime and the archives' own
timestamps are the commit time (``mtime`` and ``SOURCE_DATE_EPOCH``), so two builds of one
commit are byte-identical.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Literal

from gopipe import hookimpl
from gopipe.artifacts import Artifact
from gopipe.config import Config, doc
from gopipe.context import ProviderContext
from gopipe.errors import ConfigError
from gopipe.paths import artifact_file, inside
from gopipe.types import Packager

PackageFormat = Literal["deb", "rpm", "apk", "archlinux"]
CONFIG_KEY = "tool.gopipe.package.nfpm"
_EXTENSIONS: dict[str, str] = {"deb": "deb", "rpm": "rpm", "apk": "apk", "archlinux": "pkg.tar.zst"}


@dataclass(frozen=True)
class NfpmContent:
    """One file (or directory, or symlink) the package installs besides the binaries."""

    src: str = doc("file in the repository (for type = 'symlink': the link's target path)", "")
    dst: str = doc("absolute path on the target system, e.g. /etc/hello/config.yaml", "")
    type: Literal["", "config", "config|noreplace", "dir", "symlink"] = doc("nFPM content type", "")
    mode: int = doc("file mode, e.g. 0o644 written as 420; 0 = the source's", 0, minimum=0, maximum=0o7777)


@dataclass(frozen=True)
class NfpmScripts:
    """Maintainer scripts, files in the repository."""

    preinstall: str = doc("run before installing", "")
    postinstall: str = doc("run after installing", "")
    preremove: str = doc("run before removing", "")
    postremove: str = doc("run after removing", "")


@dataclass(frozen=True)
class NfpmOptions:
    """[tool.gopipe.package.nfpm]: OS packages of the linux binaries."""

    formats: tuple[PackageFormat, ...] = doc("package formats", ("deb", "rpm"), min_items=1, unique=True)
    name: str = doc("package name (a template); empty = {project}", "")
    maintainer: str = doc("'Name <email>' (deb requires one)", "")
    description: str = doc("one paragraph", "")
    vendor: str = doc("vendor", "")
    homepage: str = doc("project URL; empty = the repository's", "")
    license: str = doc("SPDX license expression", "")
    section: str = doc("deb section", "default")
    priority: str = doc("deb priority", "optional")
    depends: tuple[str, ...] = doc("packages this one needs", ())
    recommends: tuple[str, ...] = doc("packages this one recommends", ())
    conflicts: tuple[str, ...] = doc("packages this one conflicts with", ())
    bindir: str = doc("where the binaries go", "/usr/bin")
    binaries: tuple[str, ...] = doc("binary names packaged; empty = every linux binary", ())
    contents: tuple[NfpmContent, ...] = doc("more files", ())
    scripts: NfpmScripts = doc("maintainer scripts", default_factory=NfpmScripts)
    file_name: str = doc(
        "package file name without extension (a template; also {package} {arch} {format})",
        "{package}_{version}_{arch}",
    )


def _absolute_dst(file: str, dst: str, key: str) -> str:
    path = PurePosixPath(dst)
    if not dst.startswith("/") or ".." in path.parts or "\0" in dst or "\n" in dst:
        raise ConfigError(
            file,
            f"{CONFIG_KEY}.{key}",
            f"{dst[:100]!r} is not an absolute path without '..'",
            "write where the file goes on the target system, e.g. /etc/app/app.conf",
        )
    return str(path)


def check_options(config: Config, opts: NfpmOptions) -> None:
    """Before any stage: destinations absolute, sources and scripts inside the repository."""
    shown = config.display_file
    _absolute_dst(shown, opts.bindir, "bindir")
    for i, item in enumerate(opts.contents):
        _absolute_dst(shown, item.dst, f"contents[{i}].dst")
        if item.type == "symlink":
            _absolute_dst(shown, item.src, f"contents[{i}].src")
        elif item.type != "dir":
            inside(config.root, item.src, file=shown, key=f"{CONFIG_KEY}.contents[{i}].src")
    for name in ("preinstall", "postinstall", "preremove", "postremove"):
        value = getattr(opts.scripts, name)
        if value:
            inside(config.root, value, file=shown, key=f"{CONFIG_KEY}.scripts.{name}")
    if "deb" in opts.formats and not opts.maintainer:
        raise ConfigError(
            shown,
            f"{CONFIG_KEY}.maintainer",
            "deb packages need a maintainer",
            "set maintainer = 'Name <email>'",
        )


def nfpm_config(
    ctx: ProviderContext[NfpmOptions], binaries: list[Artifact], arch: str, package: str
) -> dict[str, object]:
    """nFPM's config for one architecture, every path checked."""
    opts = ctx.options
    mtime = datetime.fromtimestamp(ctx.git.commit_time, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = ctx.config.display_file
    bindir = _absolute_dst(shown, opts.bindir, "bindir")
    contents: list[dict[str, object]] = []
    for b in binaries:
        src = artifact_file(ctx.root, b)
        dst = f"{bindir.rstrip('/')}/{src.name}"
        contents.append({"src": str(src), "dst": dst, "file_info": {"mode": 0o755, "mtime": mtime}})
    for i, item in enumerate(opts.contents):
        key = f"contents[{i}]"
        entry: dict[str, object] = {"dst": _absolute_dst(shown, item.dst, f"{key}.dst"), "type": item.type}
        if item.type == "symlink":
            entry["src"] = _absolute_dst(shown, item.src, f"{key}.src")
        elif item.type != "dir":
            source = ctx.repo_path(item.src, f"{key}.src")
            if not source.is_file():
                ctx.fail(f"[tool.gopipe.package.nfpm] {key}.src {item.src!r} is not a file")
            entry["src"] = str(source)
        info: dict[str, object] = {"mtime": mtime}
        if item.mode:
            info["mode"] = item.mode
        entry["file_info"] = info
        contents.append(entry)
    scripts = {}
    for name in ("preinstall", "postinstall", "preremove", "postremove"):
        value = getattr(opts.scripts, name)
        if value:
            scripts[name] = str(ctx.repo_path(value, f"scripts.{name}"))
    return {
        "name": package,
        "arch": arch,
        "platform": "linux",
        "version": ctx.git.version,
        "version_schema": "semver",
        "maintainer": opts.maintainer,
        "description": opts.description,
        "vendor": opts.vendor,
        "homepage": opts.homepage or (ctx.git.remote_url or ""),
        "license": opts.license,
        "section": opts.section,
        "priority": opts.priority,
        "depends": list(opts.depends),
        "recommends": list(opts.recommends),
        "conflicts": list(opts.conflicts),
        "contents": contents,
        "scripts": scripts,
        "mtime": mtime,
        "disable_globbing": True,
    }


def run(ctx: ProviderContext[NfpmOptions]) -> None:
    opts = ctx.options
    linux = [b for b in ctx.artifacts.of_kind("binary") if b.os == "linux" and b.path]
    if opts.binaries:
        linux = [b for b in linux if b.name in opts.binaries]
        missing = sorted(set(opts.binaries) - {b.name for b in linux})
        if missing:
            ctx.fail(f"[tool.gopipe.package.nfpm] binaries: no linux binary named {', '.join(missing)}")
    if not linux:
        ctx.summary = "nfpm: no linux binaries to package"
        return
    package = ctx.render(opts.name or "{project}", key="name")
    nfpm = ctx.tool("nfpm")
    by_arch: dict[str, list[Artifact]] = {}
    for b in linux:
        arch = (b.arch or "amd64") + (str(b.extra.get("variant") or "") if b.arch == "arm" else "")
        by_arch.setdefault(arch, []).append(b)
    work = ctx.dist_path("nfpm", "file_name", under="gopipe")
    work.mkdir(parents=True, exist_ok=True)
    made = 0
    for arch, binaries in sorted(by_arch.items()):
        config = work / f"{package}-{arch}.yaml"
        config.write_text(json.dumps(nfpm_config(ctx, binaries, arch, package), indent=2), encoding="utf-8")
        for fmt in opts.formats:
            base = ctx.render(opts.file_name, key="file_name", package=package, arch=arch, format=fmt)
            out = ctx.dist_path(f"{base}.{_EXTENSIONS[fmt]}", "file_name")
            out.unlink(missing_ok=True)
            result = ctx.sh(
                [str(nfpm), "package", "--config", str(config), "--packager", fmt, "--target", str(out)],
                env={"SOURCE_DATE_EPOCH": str(ctx.git.commit_time)},
            )
            if not result.ok or not out.is_file():
                ctx.fail(f"nfpm could not build the {fmt} package for linux/{arch} (see the stage log)")
            ctx.add_artifact(
                "package",
                out.name,
                out,
                os="linux",
                arch=arch,
                format=fmt,
                package=package,
                binaries=[b.name for b in binaries],
            )
            made += 1
    ctx.summary = f"nfpm: {made} package{'s' * (made != 1)} ({', '.join(opts.formats)})"


@hookimpl
def gopipe_packagers() -> list[Packager[NfpmOptions]]:
    return [
        Packager(
            name="nfpm",
            run=run,
            options=NfpmOptions,
            check=check_options,
            description="deb, rpm, apk and archlinux packages with nFPM, reproducible",
        )
    ]
