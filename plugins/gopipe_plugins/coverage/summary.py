"""``summary``: total, per-package and per-file coverage, and ``dist/gopipe/coverage.md``."""

from __future__ import annotations

from gopipe import hookimpl
from gopipe.context import ProviderContext
from gopipe.types import CoverageReporter, NoOptions
from gopipe_plugins._common.coverprofile import line_totals
from gopipe_plugins.coverage.recorded import load, repo_path


def run_summary(ctx: ProviderContext[NoOptions]) -> None:
    profile, summary = load(ctx)
    by_line = line_totals(profile)
    lines = [
        f"## Coverage: {summary.total.percent:.1f}%",
        "",
        f"{summary.total.covered} of {summary.total.statements} statements, as `go test -cover` "
        f"counts; by source line, as Cobertura and Codecov count: {by_line.percent:.1f}% "
        f"({by_line.covered} of {by_line.valid} lines).",
        "",
        "| package | statements | covered |",
        "|---|---:|---:|",
    ]
    for name, t in summary.packages.items():
        lines.append(f"| `{name}` | {t.statements} | {t.percent:.1f}% |")
    files = {repo_path(ctx, name): t for name, t in summary.files.items()}
    lines += ["", "| file | statements | covered |", "|---|---:|---:|"]
    lines += [f"| `{name}` | {t.statements} | {t.percent:.1f}% |" for name, t in files.items()]
    out = ctx.out / "coverage.md"
    out.write_text("\n".join(lines) + "\n")
    ctx.add_artifact(
        "coverage-summary",
        "coverage.md",
        out,
        percent=round(summary.total.percent, 2),
        statements=summary.total.statements,
        covered=summary.total.covered,
        line_percent=round(by_line.percent, 2),
        packages={k: round(v.percent, 2) for k, v in summary.packages.items()},
        files={k: round(v.percent, 2) for k, v in files.items()},
    )
    for name, t in summary.packages.items():
        ctx.log(f"{t.percent:6.1f}%  {name}")
    ctx.summary = f"coverage {summary.total.percent:.1f}%"


@hookimpl
def gopipe_coverage_reporters() -> list[CoverageReporter[NoOptions]]:
    return [
        CoverageReporter(
            name="summary", run=run_summary, description="total/package/file coverage and a Markdown summary"
        )
    ]
