"""``source-archive`` packager: the tagged source tree as ``{project}-{version}.tar.gz``.

Made with ``git archive`` of the commit (tracked files only, nothing from the work tree or
``dist/``), under a ``{project}-{version}/`` prefix. git writes the commit time as every
entry's mtime and compresses without a timestamp, so one commit gives one archive; its
SHA-256 is recorded and publishers attach it (artifact kind ``source-archive``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gopipe import hookimpl
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.errors import ConfigError
from gopipe.types import Packager


@dataclass(frozen=True)
class SourceArchiveOptions:
    """[tool.gopipe.package.source-archive]"""

    name_template: str = doc("file name without extension (a template)", "{project}-{version}")
    format: Literal["tar.gz", "zip"] = doc("archive format", "tar.gz")


def run(ctx: ProviderContext[SourceArchiveOptions]) -> None:
    opts = ctx.options
    if ctx.git.sha == "none":
        ctx.fail("not a git checkout: the source archive is made from the commit")
    base = ctx.render(opts.name_template, key="name_template")
    if not base or "/" in base or "\\" in base or base in (".", ".."):
        raise ConfigError(
            ctx.config.display_file,
            "tool.gopipe.package.source-archive.name_template",
            f"{opts.name_template!r} gives {base[:100]!r}, which is not a plain file name",
            "render one file name, without '/'",
        )
    out = ctx.dist_path(f"{base}.{opts.format}", "name_template")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    result = ctx.sh(
        ["git", "archive", f"--format={opts.format}", f"--prefix={base}/", "-o", str(out), ctx.git.sha],
        env={"TZ": "UTC"},
    )
    if not result.ok or not out.is_file():
        ctx.fail(f"git archive failed with exit code {result.returncode}")
    ctx.add_artifact("source-archive", out.name, out, format=opts.format, commit=ctx.git.sha)
    ctx.summary = f"source archive {out.name}"


@hookimpl
def gopipe_packagers() -> list[Packager[SourceArchiveOptions]]:
    return [
        Packager(
            name="source-archive",
            run=run,
            options=SourceArchiveOptions,
            description="the commit's source tree as a reproducible tar.gz (git archive)",
        )
    ]
