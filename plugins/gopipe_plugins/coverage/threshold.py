"""``threshold``: fail the coverage stage below a total or per-package minimum."""

from __future__ import annotations

from dataclasses import dataclass

from gopipe import hookimpl
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.types import CoverageReporter
from gopipe_plugins.coverage.recorded import load


@dataclass(frozen=True)
class ThresholdOptions:
    """Minimum coverage, in percent of statements (0 disables a check)."""

    total: float = doc("minimum total coverage", 0.0, minimum=0, maximum=100)
    package: float = doc("minimum coverage of every package that has statements", 0.0, minimum=0, maximum=100)
    exclude_packages: tuple[str, ...] = doc("packages the per-package minimum ignores", ())


def run_threshold(ctx: ProviderContext[ThresholdOptions]) -> None:
    _, summary = load(ctx)
    opts = ctx.options
    key = "[tool.gopipe.coverage.threshold]"
    if summary.total.percent + 1e-9 < opts.total:
        ctx.fail(
            f"coverage {summary.total.percent:.1f}% is below the threshold {opts.total:g}% "
            f"({key} total); add tests or lower the threshold"
        )
    if opts.package:
        low = [
            (n, t)
            for n, t in summary.packages.items()
            if t.statements and t.percent + 1e-9 < opts.package and n not in opts.exclude_packages
        ]
        if low:
            name, t = low[0]
            ctx.fail(
                f"{len(low)} package(s) below {opts.package:g}% ({key} package), "
                f"first {name} at {t.percent:.1f}%",
                details="\n".join(f"{n}: {t.percent:.1f}%" for n, t in low),
            )
    ctx.summary = f"threshold {opts.total:g}% met" if opts.total else ""


@hookimpl
def gopipe_coverage_reporters() -> list[CoverageReporter[ThresholdOptions]]:
    return [
        CoverageReporter(
            name="threshold",
            run=run_threshold,
            options=ThresholdOptions,
            description="fail below a total or per-package minimum",
        )
    ]
