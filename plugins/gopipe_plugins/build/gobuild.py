"""``go build`` of every main package for every target: static, stamped, reproducible.

A module without a main package (a library) gets ``go build ./...`` instead: a compile
check that records no binary, only a ``compile-check`` artifact (:mod:`.._common.library`).
``CGO_ENABLED=0 -trimpath`` and ``-buildid=`` with the commit time as the build date make
two builds of the same commit byte-identical. The target matrix runs in parallel,
bounded by the number of cores.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from gopipe import hookimpl
from gopipe.artifacts import Finding
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.errors import ConfigError, StageFailed
from gopipe.project import project_name
from gopipe.stages import Stage
from gopipe.types import Builder, MergeInput, MergeOutput, Merger
from gopipe_plugins._common.findings import parse_positions
from gopipe_plugins._common.library import record_compile_check
from gopipe_plugins.build import stamping
from gopipe_plugins.build.universal import MachOError, write_universal

# Plus one -X per build variable the code declares (version, commit, date …: .stamping),
# unless ldflags is configured: then it is used as written.
DEFAULT_LDFLAGS = "-s -w"


@dataclass(frozen=True)
class GoBuildOptions:
    """go build settings. Templates: {version} {commit} {short_commit} {date} {branch} {tag}."""

    ldflags: str = doc(
        "linker flags template; -buildid= is always added. Default: -s -w and -X for each "
        "package-level string variable named like a version, commit or date in the main package "
        "and the packages it imports from its module (main.version={version}, "
        "…/pkg/version.REVISION={commit}, main.buildDate={date} …)",
        DEFAULT_LDFLAGS,
    )
    flags: tuple[str, ...] = doc("go build flags", ("-trimpath",))
    tags: tuple[str, ...] = doc("build tags", ())
    cgo: bool = doc("build with cgo (breaks static, cross-compiled binaries)", False)
    env: dict[str, str] = doc("extra environment for go build", default_factory=dict)
    output: str = doc("binary path template under dist", "{name}_{os}_{arch}/{name}{ext}")
    universal_darwin: bool = doc(
        "also write a universal darwin binary (darwin/all) from the darwin/amd64 and darwin/arm64 ones", False
    )


@dataclass(frozen=True)
class Target:
    os: str
    arch: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Target:
        parts = text.split("/")
        return cls(parts[0], parts[1], parts[2] if len(parts) > 2 else "")

    @property
    def arch_label(self) -> str:
        return f"{self.arch}_{self.variant}" if self.variant else self.arch

    def env(self) -> dict[str, str]:
        env = {"GOOS": self.os, "GOARCH": self.arch}
        if self.variant:
            key = {
                "arm": "GOARM",
                "amd64": "GOAMD64",
                "386": "GO386",
                "mips": "GOMIPS",
                "mipsle": "GOMIPS",
                "arm64": "GOARM64",
            }.get(self.arch)
            if key:
                env[key] = self.variant.removeprefix("v") if self.arch == "arm" else self.variant
        return env


def main_packages(ctx: ProviderContext[object]) -> list[str]:
    """Configured ``main``, else every ./cmd/* main package, else "." if it is main; none
    (a library) when the module has no main package there."""
    configured = ctx.config.settings.main
    if configured:
        for i, main in enumerate(configured):
            ctx.repo_path(main, f"tool.gopipe.main[{i}]")  # a package of this repository
        return list(configured)
    packages = ctx.go.packages()
    cmd = ctx.root / "cmd"
    found = sorted(
        "./" + str(p.dir.relative_to(ctx.root)) for p in packages if p.is_main and p.dir.parent == cmd
    )
    if found:
        return found
    if any(p.is_main and p.dir == ctx.root for p in packages):
        return ["."]
    return []


def binary_name(ctx: ProviderContext[object], main: str) -> str:
    """As ``go build`` names it: the package directory, or for the module root the module
    path's last element (never the checkout directory's name)."""
    path = (ctx.root / main).resolve()
    return path.name if path != ctx.root else project_name(ctx.root, None)


def output_of(ctx: ProviderContext[GoBuildOptions], main: str, target: Target) -> Path:
    """The rendered ``output`` template for one binary: a file below dist/, or a ConfigError."""
    name = binary_name(ctx, main)
    ext = ".exe" if target.os == "windows" else ""
    variables = {"name": name, "os": target.os, "arch": target.arch_label, "ext": ext}
    rel = ctx.render(ctx.options.output, key="output", **variables)
    return ctx.dist_path(rel, "output")


def run(ctx: ProviderContext[GoBuildOptions]) -> None:
    opts = ctx.options
    go = ctx.go.require(ctx.config.display_file)
    targets = [Target.parse(t) for t in (ctx.args.targets or ctx.config.settings.targets)]
    mains = main_packages(ctx)
    if not mains:
        compile_check(ctx, go)
        return
    configured = "ldflags" in ctx.config.stage(ctx.stage).tables.get(ctx.provider, {})
    # Configured ldflags need no source scan before the build: ``go list -deps`` (for the -X
    # check afterwards) then runs beside the builds instead of ahead of them.
    lister = ThreadPoolExecutor(max_workers=1)
    listed = {main: lister.submit(list_deps, ctx, go, main) for main in mains}
    lister.shutdown(wait=False)
    deps = {} if configured else {main: future.result() for main, future in listed.items()}
    ldflags = {main: stamped_ldflags(ctx, deps.get(main, []), configured) for main in mains}
    jobs = [(main, target) for main in mains for target in targets]
    outputs = {job: output_of(ctx, *job) for job in jobs}  # every path checked before any build
    taken: dict[Path, tuple[str, Target]] = {}
    for job, out in outputs.items():
        if out in taken:
            earlier, other = taken[out], job
            raise ConfigError(
                ctx.config.display_file,
                f"tool.gopipe.{ctx.stage}.{ctx.provider}.output",
                f"{earlier[0]} for {earlier[1].os}/{earlier[1].arch_label} and {other[0]} for "
                f"{other[1].os}/{other[1].arch_label} both go to {out.relative_to(ctx.root)}",
                "put {name}, {os} and {arch} in the output template",
            )
        taken[out] = job
    failures: list[StageFailed] = []

    def build(main: str, target: Target) -> None:
        name = binary_name(ctx, main)
        out = outputs[(main, target)]
        out.parent.mkdir(parents=True, exist_ok=True)
        env = {"CGO_ENABLED": "1" if opts.cgo else "0", **opts.env, **target.env()}
        args = [
            go,
            "build",
            *opts.flags,
            *([f"-tags={','.join(opts.tags)}"] if opts.tags else []),
            f"-ldflags={ldflags[main]}",
            "-o",
            str(out),
            main,
        ]
        res = ctx.sh(args, env=env, echo=False)  # targets build at once: keep their output apart
        if not res.ok:
            ctx.log_block(
                f"go build {main} for {target.os}/{target.arch}", res.stderr.rstrip("\n").splitlines()
            )
            found = parse_positions(res.stderr, "go build", "compile", ctx.root)
            first = (
                found[0]
                if found
                else Finding("go build", "compile", ctx.clip(res.stderr.strip(), 300, tail=True))
            )
            ctx.add_finding(first)
            failures.append(
                StageFailed(
                    f"{main} does not build for {target.os}/{target.arch}: "
                    f"{first.location() + ': ' if first.file else ''}{first.message}",
                    file=first.file,
                    line=first.line,
                    details=res.stderr,
                )
            )
            return
        for line in res.stderr.splitlines():  # warnings of a build that worked
            ctx.log(line)
        ctx.add_artifact(
            "binary",
            name,
            out,
            os=target.os,
            arch=target.arch,
            variant=target.variant or None,
            main=main,
            version=ctx.git.version,
        )

    with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
        list(pool.map(lambda job: build(*job), jobs))
    deps = {main: future.result() for main, future in listed.items()}
    missing = (
        []
        if failures
        else [m for main in mains for m in missing_symbols(ctx, go, main, ldflags[main], deps[main])]
    )
    if failures:
        first = failures[0]
        raise StageFailed(
            first.message + (f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""),
            file=first.file,
            line=first.line,
            details=first.details,
        )
    ctx.summary = f"{len(jobs)} binar{'y' if len(jobs) == 1 else 'ies'} for {len(targets)} targets"
    if missing:
        ctx.summary += f"; -X without a symbol: {', '.join(missing)}"
    if opts.universal_darwin:
        made = universal_binaries(ctx, mains, outputs)
        ctx.summary += f", {made} universal darwin" if made else ""


def list_deps(ctx: ProviderContext[GoBuildOptions], go: str, main: str) -> list[stamping.Package]:
    """``go list -deps`` of one main package: its own files and those of everything it imports."""
    tags = [f"-tags={','.join(ctx.options.tags)}"] if ctx.options.tags else []
    fields = "-json=ImportPath,Name,Dir,GoFiles,Module"
    res = ctx.sh([go, "list", "-e", "-deps", fields, *tags, main], echo=False)
    try:
        return stamping.parse_go_list(res.stdout)
    except ValueError:
        return []


def stamped_ldflags(
    ctx: ProviderContext[GoBuildOptions], deps: list[stamping.Package], configured: bool
) -> str:
    """The rendered ldflags of one main package: as configured, or the default with an
    ``-X`` for each build variable the code declares."""
    template = ctx.options.ldflags
    if not configured:
        flags = stamping.stamp_flags(deps, ctx.root)
        if flags:
            template += " " + stamping.render_x_flags(flags)
            ctx.log(f"stamping {', '.join(flags)}")
    return ctx.render(template, key="ldflags") + " -buildid="


def missing_symbols(
    ctx: ProviderContext[GoBuildOptions], go: str, main: str, ldflags: str, deps: list[stamping.Package]
) -> list[str]:
    """The ``-X`` symbols of ``ldflags`` that are not in ``main``'s binary, each a warning.

    Symbols the source scan confirms need no look-up; the others are looked up with
    ``go tool nm`` in an unstripped link for the host (the linker ignores an unknown ``-X``)."""
    seen = stamping.declared(deps, ctx.root)
    unconfirmed = [s for s in stamping.x_symbols(ldflags) if s not in seen]
    if not unconfirmed:
        return []
    opts = ctx.options
    tags = [f"-tags={','.join(opts.tags)}"] if opts.tags else []
    with tempfile.TemporaryDirectory(prefix="gopipe-nm-") as tmp:
        exe = Path(tmp) / "check"
        link = [
            go,
            "build",
            *opts.flags,
            *tags,
            f"-ldflags={stamping.without_strip(ldflags)}",
            "-o",
            str(exe),
            main,
        ]
        env = {"CGO_ENABLED": "1" if opts.cgo else "0", **opts.env}
        if not ctx.sh(link, env=env, echo=False).ok:
            return []
        listed = ctx.sh([go, "tool", "nm", str(exe)], echo=False)
        if not listed.ok:
            return []
        present = stamping.nm_symbols(listed.stdout)
    missing = [s for s in unconfirmed if s not in present]
    for symbol in missing:
        message = f"-X {symbol}: no such symbol in the {main} binary; the linker ignored it"
        ctx.log(f"warning: {message}")
        ctx.add_finding(Finding("go build", "ldflags", message, level="warning"))
    return missing


def compile_check(ctx: ProviderContext[GoBuildOptions], go: str) -> None:
    """A library: ``go build ./...`` checks that every package compiles and writes nothing."""
    opts = ctx.options
    env = {"CGO_ENABLED": "1" if opts.cgo else "0", **opts.env}
    tags = [f"-tags={','.join(opts.tags)}"] if opts.tags else []
    res = ctx.sh([go, "build", *opts.flags, *tags, "./..."], env=env, echo=False)
    if not res.ok:
        ctx.log_block("go build ./...", res.stderr.rstrip("\n").splitlines())
        found = parse_positions(res.stderr, "go build", "compile", ctx.root)
        clipped = ctx.clip(res.stderr.strip(), 300, tail=True)
        first = found[0] if found else Finding("go build", "compile", clipped)
        ctx.add_finding(first)
        raise StageFailed(
            f"./... does not build: {first.location() + ': ' if first.file else ''}{first.message}",
            file=first.file,
            line=first.line,
            details=res.stderr,
        )
    for line in res.stderr.splitlines():
        ctx.log(line)
    packages = sum(1 for p in ctx.go.packages() if not p.error)
    record_compile_check(ctx, packages)
    ctx.summary = f"no main package: compiled {packages} package{'s' * (packages != 1)}, no binaries"


def universal_binaries(
    ctx: ProviderContext[GoBuildOptions], mains: list[str], outputs: dict[tuple[str, Target], Path]
) -> int:
    """One fat darwin/all binary per main package built for both darwin/amd64 and darwin/arm64."""
    made = 0
    for main in mains:
        thin = [outputs.get((main, Target("darwin", arch))) for arch in ("amd64", "arm64")]
        if None in thin:
            ctx.log(f"universal_darwin: {main} was not built for both darwin/amd64 and darwin/arm64")
            continue
        out = output_of(ctx, main, Target("darwin", "all"))
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            cpus = write_universal([p for p in thin if p is not None], out)
        except (MachOError, OSError) as exc:
            ctx.fail(f"universal binary of {main}: {exc}")
        ctx.add_artifact(
            "binary",
            binary_name(ctx, main),
            out,
            os="darwin",
            arch="all",
            main=main,
            version=ctx.git.version,
            universal=True,
            slices=[f"{t:#x}/{s:#x}" for t, s in cpus],
        )
        made += 1
    return made


@hookimpl
def gopipe_builders() -> list[Builder[GoBuildOptions]]:
    return [
        Builder(
            name="go",
            run=run,
            options=GoBuildOptions,
            description="CGO_ENABLED=0 go build -trimpath, stamped and reproducible",
        )
    ]


def fold_binaries(inp: MergeInput) -> MergeOutput:
    """Every matrix job's binaries back under ``dist/``, checked, and the build's summary."""
    result = MergeOutput()
    for file in inp.files:
        copied = inp.copy(file)
        if isinstance(copied, str):
            result.problems.append(copied)
        else:
            result.artifacts.append(copied)
    targets = {(a.os, a.arch) for a in result.artifacts}
    n = len(result.artifacts)
    if n:
        result.summary = f"{n} binar{'y' if n == 1 else 'ies'} for {len(targets)} targets"
    return result


@hookimpl
def gopipe_mergers() -> list[Merger]:
    return [Merger(kind="binary", stage=Stage.BUILD, merge=fold_binaries)]
