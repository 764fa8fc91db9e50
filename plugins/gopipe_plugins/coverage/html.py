"""``html``: the ``go tool cover -html`` page (``dist/gopipe/coverage.html``)."""

from __future__ import annotations

from gopipe import hookimpl
from gopipe.context import ProviderContext
from gopipe.paths import artifact_file
from gopipe.types import CoverageReporter, NoOptions


def run_html(ctx: ProviderContext[NoOptions]) -> None:
    profiles = ctx.artifacts.of_kind("coverage-profile")
    if not profiles or not profiles[-1].path:
        ctx.fail("no coverage profile: the test stage recorded none")
    out = ctx.out / "coverage.html"
    go = ctx.go.require(ctx.config.display_file)
    profile = artifact_file(ctx.root, profiles[-1])
    res = ctx.sh([go, "tool", "cover", f"-html={profile}", "-o", str(out)])
    if not res.ok:
        ctx.fail("go tool cover -html failed: " + ctx.clip(res.stderr.strip(), 300, tail=True))
    ctx.add_artifact("coverage-html", "coverage.html", out)


@hookimpl
def gopipe_coverage_reporters() -> list[CoverageReporter[NoOptions]]:
    return [CoverageReporter(name="html", run=run_html, description="go tool cover -html")]
