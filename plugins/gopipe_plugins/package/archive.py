"""``archive`` packager: release archives, ``checksums.txt`` and one SBOM per binary.

Per built target (os/arch[/variant]) one archive holds that target's binaries plus the
repository's README*/LICENSE*/CHANGELOG*: ``.tar.gz``, or ``.zip`` for windows, named by a
GoReleaser-like template. Archives are byte-reproducible (see :mod:`.archives`), so two
runs on one commit give the same ``checksums.txt`` — a release can be rebuilt and
verified. SBOMs are CycloneDX 1.5 JSON from each binary's Go build info (see :mod:`.sbom`).
"""

from __future__ import annotations

import fnmatch
import os
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import gopipe
from gopipe import hookimpl
from gopipe.artifacts import Artifact
from gopipe.config import Config, doc
from gopipe.context import ProviderContext
from gopipe.errors import ConfigError
from gopipe.paths import artifact_file, inside, member_name
from gopipe.types import Packager
from gopipe_plugins._common.library import nothing_to_package
from gopipe_plugins.package.archive_writer import (
    DEFAULT_LEVEL,
    Entry,
    Format,
    checksums_text,
    sha256_of,
    write_archive,
)

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
    compression_level: int = doc(
        "gzip/deflate level, 1 (fastest) to 9 (smallest); 9 takes about 3x as long as 6 on a Go "
        "binary for a file under 1 % smaller",
        DEFAULT_LEVEL,
    )
    parallel: int = doc("archives written at once; 0 = one per CPU", 0)


@dataclass(frozen=True)
class _ArchiveJob:
    """One archive to write: its target, binaries, entries, path and SBOM paths."""

    target: _Target
    group: list[Artifact]
    fmt: Format
    entries: list[Entry]
    path: Path
    sboms: list[Path]


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

    # Plan every archive first (names, entries), then write them at once: zlib and sha256
    # release the GIL, so archives of different targets compress on different cores.
    jobs: list[_ArchiveJob] = []
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
        sbom_paths = [
            ctx.dist_path(
                _render(ctx, "sbom_template", opts.sbom_template, **names, binary=b.name), "sbom_template"
            )
            for b in group
        ]
        jobs.append(_ArchiveJob(target, group, fmt, entries, path, sbom_paths if opts.sbom else []))

    def write(job: _ArchiveJob) -> tuple[str, list[int]]:
        try:
            digest = write_archive(
                job.path, job.fmt, job.entries, mtime=epoch, compresslevel=opts.compression_level
            )
        except (OSError, ValueError) as exc:
            ctx.fail(f"cannot write {job.path.name}: {exc}")
        return digest, [_write_sbom(ctx, b, out) for b, out in zip(job.group, job.sboms, strict=False)]

    workers = opts.parallel or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), workers))) as pool:
        written = list(pool.map(write, jobs))  # in plan order, whatever finishes first

    checksummed: list[tuple[str, str]] = []
    archives = sboms = 0
    for job, (digest, components) in zip(jobs, written, strict=True):
        path = job.path
        checksummed.append((path.name, digest))
        ctx.add_artifact(
            "archive",
            path.name,
            path,
            os=job.target.os,
            arch=job.target.arch,
            sha256=digest,
            format=job.fmt,
            variant=job.target.variant or None,
            binaries=[b.name for b in job.group],
            files=sorted(e.name for e in job.entries),
        )
        ctx.log(f"archive {path.name}: {len(job.entries)} files")
        archives += 1
        for binary, sbom_path, count in zip(job.group, job.sboms, components, strict=False):
            _record_sbom(ctx, binary, sbom_path, count)
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


def _write_sbom(ctx: ProviderContext[ArchiveOptions], binary: Artifact, out: Path) -> int:
    """Write ``binary``'s SBOM to ``out``; the number of components (thread-safe: records nothing)."""
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
    return len(bom["components"])


def _record_sbom(ctx: ProviderContext[ArchiveOptions], binary: Artifact, out: Path, components: int) -> None:
    """Record an SBOM written by :func:`_write_sbom` (in plan order, from the stage's thread)."""
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
        components=components,
    )


def check(config: Config, opts: ArchiveOptions) -> None:
    """Preflight: a compression level zlib accepts, a worker count that is not negative."""
    key = "tool.gopipe.package.archive"
    if not 1 <= opts.compression_level <= 9:
        raise ConfigError(
            config.display_file,
            f"{key}.compression_level",
            f"expected 1 to 9, got {opts.compression_level}",
            "use 6 (the default) for speed or 9 for the smallest files",
        )
    if opts.parallel < 0:
        raise ConfigError(
            config.display_file,
            f"{key}.parallel",
            f"expected 0 (one per CPU) or more, got {opts.parallel}",
            "remove it, or set a positive number of archives to write at once",
        )


@hookimpl
def gopipe_packagers() -> list[Packager[ArchiveOptions]]:
    return [
        Packager(
            name="archive",
            run=run,
            check=check,
            options=ArchiveOptions,
            description="reproducible tar.gz/zip per target, checksums.txt, CycloneDX SBOMs",
        )
    ]
