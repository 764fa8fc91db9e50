"""``cobertura``: Cobertura XML (``dist/gopipe/coverage.xml``) for Codecov, GitLab and Jenkins.

File names are relative to the repository and ``<source>`` is the repository's top
directory, so a module in a subdirectory still maps onto the checkout.

Two numbers, both in the file: Cobertura's ``line-rate`` counts source lines, as Codecov and
GitLab do from the ``<line>`` hits, while gopipe's coverage (the console, the threshold,
``coverage.md``) counts statements, as ``go test -cover`` does. They differ whenever lines
hold several statements or statements span lines; the statement figures are in a comment
at the top (see docs/reports.md).
"""

from __future__ import annotations

import time
from xml.etree import ElementTree as ET

from gopipe import hookimpl
from gopipe.context import ProviderContext
from gopipe.types import CoverageReporter, NoOptions
from gopipe_plugins._common.coverprofile import line_hits
from gopipe_plugins._common.repo_paths import repository_root
from gopipe_plugins.coverage.recorded import load, repo_path


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
    ET.SubElement(ET.SubElement(root, "sources"), "source").text = str(repository_root(ctx.root))
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
    total = summary.total
    note = (
        f"<!-- gopipe statement coverage: {total.percent:.2f}% ({total.covered} of "
        f"{total.statements} statements); line-rate below counts lines: "
        f"{_percent(all_covered, all_valid)}% ({all_covered} of {all_valid} lines) -->\n"
    )
    out = ctx.out / "coverage.xml"
    out.write_text(
        '<?xml version="1.0" ?>\n<!DOCTYPE coverage SYSTEM '
        '"http://cobertura.sourceforge.net/xml/coverage-04.dtd">\n'
        + note
        + ET.tostring(root, encoding="unicode")
        + "\n"
    )
    ctx.add_artifact(
        "cobertura",
        "coverage.xml",
        out,
        line_rate=round(all_covered / all_valid, 4) if all_valid else 1.0,
        statement_rate=round(total.covered / total.statements, 4) if total.statements else 1.0,
    )


def _percent(covered: int, valid: int) -> str:
    return f"{100 * covered / valid:.2f}" if valid else "100.00"


def _rate(covered: int, valid: int) -> str:
    return f"{covered / valid:.4f}" if valid else "1"


@hookimpl
def gopipe_coverage_reporters() -> list[CoverageReporter[NoOptions]]:
    return [
        CoverageReporter(
            name="cobertura", run=run_cobertura, description="Cobertura XML (dist/gopipe/coverage.xml)"
        )
    ]
