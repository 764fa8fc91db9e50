"""The coverage stage's providers. Each reads the profile the test stage recorded."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

from gopipe import hookimpl
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.types import CoverageReporter, NoOptions
from gopipe_plugins.coverage.profile import Profile, Summary, line_hits, parse_profile, summarise


def load(ctx: ProviderContext[object]) -> tuple[Profile, Summary]:
    profiles = ctx.run.artifacts.of_kind("coverage-profile")
    if not profiles or not profiles[-1].path:
        ctx.fail("no coverage profile: the test stage recorded none (did any package have tests?)")
    path = ctx.root / str(profiles[-1].path)
    profile = parse_profile(path.read_text())
    return profile, summarise(profile)


def repo_path(ctx: ProviderContext[object], go_file: str) -> str:
    """Map ``example.com/mod/pkg/file.go`` to ``pkg/file.go`` using ``go list``."""
    pkg, _, base = go_file.rpartition("/")
    for p in ctx.go.packages():
        if p.import_path == pkg:
            try:
                return str((p.dir / base).relative_to(ctx.root))
            except ValueError:
                return str(p.dir / base)
    return go_file


def run_summary(ctx: ProviderContext[NoOptions]) -> None:
    _, summary = load(ctx)
    lines = [
        f"## Coverage: {summary.total.percent:.1f}%",
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
        packages={k: round(v.percent, 2) for k, v in summary.packages.items()},
        files={k: round(v.percent, 2) for k, v in files.items()},
    )
    for name, t in summary.packages.items():
        ctx.log(f"{t.percent:6.1f}%  {name}")
    ctx.summary = f"coverage {summary.total.percent:.1f}%"


@dataclass(frozen=True)
class ThresholdOptions:
    """Minimum coverage, in percent of statements (0 disables a check)."""

    total: float = doc("minimum total coverage", 0.0)
    package: float = doc("minimum coverage of every package that has statements", 0.0)
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


def run_cobertura(ctx: ProviderContext[NoOptions]) -> None:
    profile, summary = load(ctx)
    hits = line_hits(profile)
    root = ET.Element(
        "coverage",
        {
            "line-rate": "0",
            "branch-rate": "0",
            "lines-covered": "0",
            "lines-valid": "0",
            "branches-covered": "0",
            "branches-valid": "0",
            "complexity": "0",
            "version": "gopipe",
            "timestamp": str(int(time.time() * 1000)),
        },
    )
    ET.SubElement(ET.SubElement(root, "sources"), "source").text = str(ctx.root)
    packages_el = ET.SubElement(root, "packages")
    all_valid = all_covered = 0
    for pkg_name in summary.packages:
        files = sorted(f for f in hits if f.rpartition("/")[0] == pkg_name)
        pkg_el = ET.SubElement(
            packages_el, "package", name=pkg_name, complexity="0", attrib={"branch-rate": "0"}
        )
        classes = ET.SubElement(pkg_el, "classes")
        pkg_valid = pkg_covered = 0
        for file in files:
            lines = hits[file]
            valid, covered = len(lines), sum(1 for h in lines.values() if h > 0)
            cls = ET.SubElement(
                classes,
                "class",
                name=file.rpartition("/")[2],
                filename=repo_path(ctx, file),
                complexity="0",
                attrib={"line-rate": _rate(covered, valid), "branch-rate": "0"},
            )
            ET.SubElement(cls, "methods")
            lines_el = ET.SubElement(cls, "lines")
            for number in sorted(lines):
                ET.SubElement(lines_el, "line", number=str(number), hits=str(lines[number]), branch="false")
            pkg_valid, pkg_covered = pkg_valid + valid, pkg_covered + covered
        pkg_el.set("line-rate", _rate(pkg_covered, pkg_valid))
        all_valid, all_covered = all_valid + pkg_valid, all_covered + pkg_covered
    root.set("line-rate", _rate(all_covered, all_valid))
    root.set("lines-covered", str(all_covered))
    root.set("lines-valid", str(all_valid))
    ET.indent(root)
    out = ctx.out / "coverage.xml"
    out.write_text(
        '<?xml version="1.0" ?>\n<!DOCTYPE coverage SYSTEM '
        '"http://cobertura.sourceforge.net/xml/coverage-04.dtd">\n'
        + ET.tostring(root, encoding="unicode")
        + "\n"
    )
    ctx.add_artifact("cobertura", "coverage.xml", out)


def _rate(covered: int, valid: int) -> str:
    return f"{covered / valid:.4f}" if valid else "1"


def run_html(ctx: ProviderContext[NoOptions]) -> None:
    profiles = ctx.run.artifacts.of_kind("coverage-profile")
    if not profiles or not profiles[-1].path:
        ctx.fail("no coverage profile: the test stage recorded none")
    out = ctx.out / "coverage.html"
    go = ctx.go.require(ctx.run.config.display_file)
    res = ctx.sh([go, "tool", "cover", f"-html={Path(ctx.root, str(profiles[-1].path))}", "-o", str(out)])
    if not res.ok:
        ctx.fail(f"go tool cover -html failed: {res.stderr.strip()[-300:]}")
    ctx.add_artifact("coverage-html", "coverage.html", out)


@hookimpl
def gopipe_coverage_reporters() -> list[CoverageReporter]:
    return [
        CoverageReporter(
            name="summary", run=run_summary, description="total/package/file coverage and a Markdown summary"
        ),
        CoverageReporter(
            name="threshold",
            run=run_threshold,
            options=ThresholdOptions,
            description="fail below a total or per-package minimum",
        ),
        CoverageReporter(
            name="cobertura", run=run_cobertura, description="Cobertura XML (dist/gopipe/coverage.xml)"
        ),
        CoverageReporter(name="html", run=run_html, description="go tool cover -html"),
    ]
