"""``gopipe init``: add the two-line noxfile and a commented ``[tool.gopipe]`` table
to a Go repository without clobbering anything that is already there."""

from __future__ import annotations

from pathlib import Path

from gopipe.init_fit import Fit, fit_repository

NOXFILE = """\
import gopipe.nox

gopipe.nox.install()
"""


def tool_table(fit: Fit) -> str:
    """The ``[tool.gopipe]`` table for this repository: defaults as comments, fitted to what
    it has (its main packages, its linters, its coverage when measured)."""
    lines = ["[tool.gopipe]", "# Every key is optional; the comments show what gopipe does without them."]
    if not fit.go_module:
        lines.append(
            '# main = ["./path/to/cmd"]      # no go.mod here yet: every ./cmd/* main package, else "."'
        )
    elif not fit.mains:
        lines.append("# no main package: build checks that everything compiles (go build ./...)")
    elif fit.found_by_default:
        lines.append(f'# main = {_array(fit.mains)}   # found: every ./cmd/* main package, else "."')
    else:
        lines.append(
            f"main = {_array(fit.mains)}   # found by gopipe init; the default looks only in ./cmd/* and ."
        )
    lines += [
        '# targets = ["linux/amd64", "linux/arm64", "darwin/arm64", "windows/amd64"]',
        '# targets = ["linux/amd64", "linux/arm64", "darwin/arm64", "darwin/amd64", "windows/amd64"]'
        "  # + Intel Macs",
        '# requires = ["gopipe-foo>=1.2"]  # plugin packages this config needs: checked before every run',
        "",
        "# [tool.gopipe.lint]",
    ]
    if fit.golangci:
        lines.append(
            f'# providers = ["golangci-lint"]   # chosen by {fit.golangci} (else gofmt, govet, staticcheck)'
        )
    else:
        lines.append('# providers = ["gofmt", "govet", "staticcheck"]   # also: golangci-lint, govulncheck')
    lines += [
        "",
        "# [tool.gopipe.coverage]",
        '# providers = ["summary", "threshold", "cobertura", "html"]',
        "# [tool.gopipe.coverage.threshold]",
    ]
    if fit.coverage is not None:
        lines.append(
            f"# total = {int(fit.coverage)}   # coverage now: {fit.coverage:.1f}% (gopipe init --measure)"
        )
    else:
        lines.append("# total = 0   # minimum total coverage in percent; gopipe init --measure suggests one")
    lines += [
        "",
        "# [tool.gopipe.build.go]",
        '# ldflags = "-s -w"   # plus -X for each version/commit/date variable the code declares',
        "",
        "# Releases: `gopipe run release` on a clean version tag (`--snapshot`: any commit); docs/release.md",
        "# [tool.gopipe.package]",
        '# providers = ["oci-image", "archive", "nfpm"]   # nfpm: deb, rpm, apk, archlinux',
        "# [tool.gopipe.publish]",
        '# providers = ["github"]                         # or gitlab',
        "# [tool.gopipe.publish.github]",
        '# token = { env = "GITHUB_TOKEN" }',
        "",
        "# [tool.gopipe.notify]",
        '# providers = ["slack"]   # a notifier runs only when it is listed here',
        "# [tool.gopipe.notify.slack]",
        '# webhook = { env = "SLACK_WEBHOOK_URL" }   # secrets only by reference, never inline',
    ]
    return "\n".join(lines) + "\n"


def _array(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def init_repo(root: Path, *, measure: bool = False) -> list[str]:
    """Write what is missing; return one line per action for the user. ``measure`` runs
    the tests once (bounded, :mod:`gopipe.init_fit`) to suggest a coverage threshold."""
    said: list[str] = []
    noxfile = root / "noxfile.py"
    if not noxfile.exists():
        noxfile.write_text(NOXFILE)
        said.append("wrote noxfile.py")
    elif "gopipe.nox" not in noxfile.read_text():
        said.append("noxfile.py exists: add these two lines to it:\n" + NOXFILE)
    else:
        said.append("noxfile.py already uses gopipe")

    pyproject = root / "pyproject.toml"
    has_table = pyproject.exists() and "[tool.gopipe" in pyproject.read_text()
    fit = Fit() if has_table else fit_repository(root, measure=measure)
    said += fit.notes
    table = tool_table(fit)
    if not pyproject.exists():
        pyproject.write_text(table)
        said.append("wrote pyproject.toml with a commented [tool.gopipe] table")
    elif "[tool.gopipe" not in pyproject.read_text():
        text = pyproject.read_text()
        pyproject.write_text(text + ("" if text.endswith("\n") else "\n") + "\n" + table)
        said.append("added a commented [tool.gopipe] table to pyproject.toml")
    else:
        said.append("pyproject.toml already has [tool.gopipe]")

    said += _ignore_outputs(root)
    return said


def _ignore_outputs(root: Path) -> list[str]:
    """Ignore gopipe's output folders: ``/dist/``, or every module's ``dist/`` in a monorepo."""
    from gopipe.modules import find_go_mods

    pattern = "dist/" if len(find_go_mods(root)) > 1 else "/dist/"
    gitignore = root / ".gitignore"
    text = gitignore.read_text() if gitignore.exists() else ""
    if any(line.strip() in (pattern, pattern.rstrip("/"), "dist", "dist/") for line in text.splitlines()):
        return []
    with gitignore.open("a") as fh:
        fh.write(("\n" if text and not text.endswith("\n") else "") + pattern + "\n")
    return [f"added {pattern} to .gitignore"]


def init_github(root: Path, config_file: Path | None = None, *, check: bool = False) -> tuple[int, list[str]]:
    """``--github``: write (or with ``check``, only compare) the generated workflows."""
    from gopipe.github import check_workflows, write_workflows

    outcome = check_workflows(root, config_file) if check else write_workflows(root, config_file)
    return outcome.exit_code, outcome.lines
