"""``archive`` packager: release archives, ``checksums.txt`` and one SBOM per binary.

Per built target (os/arch[/variant]) one archive holds that target's binaries plus the
repository's README*/LICENSE*/CHANGELOG*: ``.tar.gz``, or ``.zip`` for windows, named by a
GoReleaser-like template. Archives are byte-reproducible (see :mod:`.archives`), so two
runs on one commit give the same ``checksums.txt`` — a release can be rebuilt and
verified. SBOMs are CycloneDX 1.5 JSON from each binary's Go build info (see :mod:`.sbom`).
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import gopipe
from gopipe import hookimpl
from gopipe.artifacts import Artifact
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.errors import ConfigError
from gopipe.paths import artifact_file, inside, member_name
from gopipe.types import Packager
from gopipe_plugins._common.library import nothing_to_package
from gopipe_plugins.package.archive_writer import Entry, Format, checksums_text, sha256_of, write_archive

from . import sbom


def _windows_zip() -> dict[str, Format]:
    return {"windows": "zip"}


@dataclass(frozen=True)
class ArchiveOptions:
    """Release archives, checksums and SBOMs. Templates: {project} {version} {os} {arch}
    {binary} {commit} {short_commit} {date} {tag} {branch}; {arch} includes the variant
    (``armv7``) as GoReleaser writes it."""

    name_template: str = doc("archive file name without extension", "{project}_{version}_{os}_{arch}")
    format: Literal["tar.gz", "zip"] = doc("archive format", "tar.gz")
    format_overrides: dict[str, Literal["tar.gz", "zip"]] = doc(
        "format per GOOS", default_factory=_windows_zip
    )
    files: tuple[str, ...] = doc(
        "extra files (globs relative to the repository; without '/' matched case-insensitively in the root)",
        ("README*", "LICENSE*", "CHANGELOG*"),
    )
    wrap_in_directory: bool = doc("put everything under a directory named like the archive", False)
    checksum_name: str = doc("checksum file name (sha256, '<hex>  <name>' lines)", "checksums.txt")
    sbom: bool = doc("write a CycloneDX 1.5 JSON SBOM per binary", True)
    sbom_template: str = doc("SBOM file name", "{binary}_{version}_{os}_{arch}.cdx.json")
    checksum_sboms: bool = doc("list the SBOMs in the checksum file too", False)
    binaries: tuple[str, ...] = doc("binary names archived; empty = every binary", ())


@dataclass(frozen=True)
class _Target:
    os: str
    arch: str
    variant: str

    @property
    def arch_label(self) -> str:
        return self.arch + self.variant


def _target(a: Artifact) -> _Target:
    variant = a.extra.get("variant") or ""
    return _Target(a.os or "unknown", a.arch or "unknown", str(variant))


def find_files(ctx: ProviderContext[ArchiveOptions], exclude: Path) -> list[tuple[str, Path]]:
    """Files matching the ``files`` globs, as (path inside the archive, source), none under
    *exclude*. A glob is relative to the repository and every match must resolve inside it:
    ``../*``, ``/etc/passwd`` or a symlink that leads out is a ConfigError naming the glob."""
    root, shown = ctx.root, ctx.config.display_file
    found: dict[str, Path] = {}
    for i, pattern in enumerate(ctx.options.files):
        key = f"tool.gopipe.{ctx.stage}.{ctx.provider}.files[{i}]"
        pure = PurePosixPath(pattern)
        if not pattern or pure.is_absolute() or ".." in pure.parts or "\\" in pattern:
            raise ConfigError(
                shown,
                key,
                f"{pattern!r} is not a glob inside the repository",
                "write globs relative to the repository, without '..', e.g. \"LICENSE*\"",
            )
        if "/" not in pattern:
            matches = [p for p in root.iterdir() if fnmatch.fnmatchcase(p.name.lower(), pattern.lower())]
        else:
            try:
                matches = list(root.glob(pattern))
            except (ValueError, NotImplementedError) as exc:
                raise ConfigError(shown, key, f"invalid glob {pattern!r}: {exc}", "fix the glob") from None
        for p in sorted(matches):
            rel = p.relative_to(root).as_posix()
            if ".git" in PurePosixPath(rel).parts:
                continue
            resolved = inside(
                root,
                rel,
                file=shown,
                key=key,
                fix=f"{rel} is a symlink out of the repository: remove it or narrow {pattern!r}",
            )
            if not resolved.is_file() or resolved.is_relative_to(exclude.resolve()):
                continue
            found.setdefault(member_name(rel), resolved)
    return sorted(found.items())


def _render(ctx: ProviderContext[ArchiveOptions], key: str, template: str, **extra: str) -> str:
    """A rendered file name: one plain name (no '/', not '.' or '..'), else a ConfigError."""
    name = ctx.render(template, key=key, **extra)
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ConfigError(
            ctx.config.display_file,
            f"tool.gopipe.{ctx.stage}.{ctx.provider}.{key}",
            f"{template!r} gives {name!r}, which is not a plain file name",
            "render one file name, without '/'",
        )
    return name


def run(ctx: ProviderContext[ArchiveOptions]) -> None:
    opts = ctx.options
    binaries = ctx.artifacts.of_kind("binary")
    if not binaries and nothing_to_package(ctx):
        return
    if opts.binaries:
        unknown = sorted(set(opts.binaries) - {b.name for b in binaries})
        if unknown:
            ctx.fail(f"[tool.gopipe.package.archive] binaries: no binary named {', '.join(unknown)}")
        binaries = [b for b in binaries if b.name in opts.binaries]
    if not binaries:
        ctx.fail("no binaries to archive: the build stage recorded none")
    dist = ctx.dist
    dist.mkdir(parents=True, exist_ok=True)
    epoch = ctx.git.commit_time
    extras = find_files(ctx, dist)

    by_target: dict[_Target, list[Artifact]] = defaultdict(list)
    for b in binaries:
        by_target[_target(b)].append(b)

    checksummed: list[tuple[str, str]] = []
    archives = sboms = 0
    for target in sorted(by_target, key=lambda t: (t.os, t.arch, t.variant)):
        group = sorted(by_target[target], key=lambda a: a.name)
        names = {"os": target.os, "arch": target.arch_label}
        fmt: Format = opts.format_overrides.get(target.os, opts.format)
        base = _render(ctx, "name_template", opts.name_template, **names, binary=group[0].name)
        prefix = base + "/" if opts.wrap_in_directory else ""
        entries = [
            Entry(prefix + Path(str(b.path)).name, artifact_file(ctx.root, b), executable=True) for b in group
        ]
        entries += [Entry(prefix + rel, src) for rel, src in extras]
        path = ctx.dist_path(f"{base}.{fmt}", "name_template")
        try:
            write_archive(path, fmt, entries, mtime=epoch)
        except (OSError, ValueError) as exc:
            ctx.fail(f"cannot write {path.name}: {exc}")
        digest = sha256_of(path)
        checksummed.append((path.name, digest))
        ctx.add_artifact(
            "archive",
            path.name,
            path,
            os=target.os,
            arch=target.arch,
            sha256=digest,
            format=fmt,
            variant=target.variant or None,
            binaries=[b.name for b in group],
            files=sorted(e.name for e in entries),
        )
        ctx.log(f"archive {path.name}: {len(entries)} files")
        archives += 1
        if opts.sbom:
            for b in group:
                sbom_name = _render(ctx, "sbom_template", opts.sbom_template, **names, binary=b.name)
                sbom_path = ctx.dist_path(sbom_name, "sbom_template")
                _write_sbom(ctx, b, sbom_path)
                sboms += 1
                if opts.checksum_sboms:
                    checksummed.append((sbom_path.name, sha256_of(sbom_path)))

    checksum_file = ctx.dist_path(_render(ctx, "checksum_name", opts.checksum_name), "checksum_name")
    checksum_file.write_text(checksums_text(checksummed))
    ctx.add_artifact(
        "checksums",
        checksum_file.name,
        checksum_file,
        algorithm="sha256",
        files=sorted(n for n, _ in checksummed),
    )
    ctx.summary = (
        f"{archives} archive{'s' * (archives != 1)}, {sboms} SBOM{'s' * (sboms != 1)}, {checksum_file.name}"
    )


def _write_sbom(ctx: ProviderContext[ArchiveOptions], binary: Artifact, out: Path) -> None:
    go = ctx.go.require(ctx.config.display_file)
    path = artifact_file(ctx.root, binary)

    def sh(args: Sequence[str]) -> tuple[int, str, str]:
        done = ctx.sh(args)
        return done.returncode, done.stdout, done.stderr

    try:
        info = sbom.read_build_info(go, path, sh)
    except sbom.BuildInfoError as exc:
        ctx.fail(f"no SBOM for {binary.path}: {exc}")
    bom = sbom.cyclonedx(
        info,
        binary_name=binary.name,
        binary_sha256=binary.sha256 or sha256_of(path),
        version=str(binary.extra.get("version") or ctx.git.version),
        goos=binary.os or "",
        goarch=binary.arch or "",
        epoch=ctx.git.commit_time,
        tool_version=gopipe.__version__,
        vcs_url=ctx.git.remote_url,
    )
    out.write_bytes(sbom.dumps(bom))
    ctx.add_artifact(
        "sbom",
        out.name,
        out,
        os=binary.os,
        arch=binary.arch,
        binary=binary.name,
        binary_path=binary.path,
        format="cyclonedx-json",
        spec_version=sbom.SPEC_VERSION,
        components=len(bom["components"]),
    )


@hookimpl
def gopipe_packagers() -> list[Packager[ArchiveOptions]]:
    return [
        Packager(
            name="archive",
            run=run,
            options=ArchiveOptions,
            description="reproducible tar.gz/zip per target, checksums.txt, CycloneDX SBOMs",
        )
    ]
