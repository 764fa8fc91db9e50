"""``gopipe init``: add the two-line noxfile and a commented ``[tool.gopipe]`` table
to a Go repository without clobbering anything that is already there."""

from __future__ import annotations

from pathlib import Path

NOXFILE = """\
import gopipe.nox

gopipe.nox.install()
"""

TOOL_TABLE = """\
[tool.gopipe]
# Every key is optional; these are the defaults for a standard Go repository.
# main = ["./cmd/app"]          # default: every ./cmd/* main package, else "."
# targets = ["linux/amd64", "linux/arm64", "darwin/arm64", "windows/amd64"]
# targets = ["linux/amd64", "linux/arm64", "darwin/arm64", "darwin/amd64", "windows/amd64"]  # + Intel Macs
# requires = ["gopipe-foo>=1.2"]  # plugin packages this config needs: checked before every run

# [tool.gopipe.lint]
# providers = ["gofmt", "govet", "staticcheck"]   # also: golangci-lint, govulncheck

# [tool.gopipe.coverage]
# providers = ["summary", "threshold", "cobertura", "html"]
# [tool.gopipe.coverage.threshold]
# total = 80

# [tool.gopipe.build.go]
# ldflags = "-s -w -X main.version={version} -X main.commit={commit} -X main.date={date}"

# Releases: `gopipe run release` on a clean version tag (`--snapshot` on any commit); docs/release.md
# [tool.gopipe.package]
# providers = ["oci-image", "archive", "nfpm"]   # nfpm: deb, rpm, apk, archlinux
# [tool.gopipe.publish]
# providers = ["github"]                         # or gitlab
# [tool.gopipe.publish.github]
# token = { env = "GITHUB_TOKEN" }

# [tool.gopipe.notify.slack]
# webhook = { env = "SLACK_WEBHOOK_URL" }   # secrets only by reference, never inline
"""


def init_repo(root: Path) -> list[str]:
    """Write what is missing; return one line per action for the user."""
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
    if not pyproject.exists():
        pyproject.write_text(TOOL_TABLE)
        said.append("wrote pyproject.toml with a commented [tool.gopipe] table")
    elif "[tool.gopipe" not in pyproject.read_text():
        text = pyproject.read_text()
        pyproject.write_text(text + ("" if text.endswith("\n") else "\n") + "\n" + TOOL_TABLE)
        said.append("added a commented [tool.gopipe] table to pyproject.toml")
    else:
        said.append("pyproject.toml already has [tool.gopipe]")

    gitignore = root / ".gitignore"
    lines = gitignore.read_text().splitlines() if gitignore.exists() else []
    if not any(line.strip().strip("/") == "dist" for line in lines):
        with gitignore.open("a") as fh:
            fh.write(("\n" if lines and lines[-1] else "") + "/dist/\n")
        said.append("added /dist/ to .gitignore")
    return said


def init_github(root: Path, config_file: Path | None = None, *, check: bool = False) -> tuple[int, list[str]]:
    """``--github``: write (or with ``check``, only compare) the generated workflows."""
    from gopipe.github import check_workflows, write_workflows

    outcome = check_workflows(root, config_file) if check else write_workflows(root, config_file)
    return outcome.exit_code, outcome.lines
