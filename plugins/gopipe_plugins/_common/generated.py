"""Generated Go files, recognised by the marker ``go help generate`` specifies.

A file is generated when a line matching ``^// Code generated .* DO NOT EDIT\\.$`` appears
before the first non-comment, non-blank text (the package clause). Linters skip findings in
such files, as golangci-lint does by default: nobody edits them, the generator does. A marker
after the package clause, or inside a ``/* */`` comment, does not count.

Only the head of a file is read (:data:`HEAD_BYTES`), and only files inside the repository.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from gopipe.artifacts import Finding
from gopipe.git import work_tree_root

MARKER = re.compile(r"^// Code generated .* DO NOT EDIT\.$")
# Enough for any license header; the marker must come before the package clause anyway.
HEAD_BYTES = 256 * 1024
# Findings that say a file cannot be read as Go at all: shown even in generated files.
KEPT_RULES = frozenset({"syntax", "compile", "typecheck"})


def is_generated_source(text: str) -> bool:
    """Whether ``text`` (the head of a Go file) carries the marker before its package clause."""
    in_block = False
    for raw in text.removeprefix("\ufeff").splitlines():
        line = raw.rstrip("\r")
        if in_block:
            end = line.find("*/")
            if end < 0:
                continue
            in_block, line = False, line[end + 2 :]
            if not line.strip():
                continue
            if not line.strip().startswith(("//", "/*")):
                return False
        if MARKER.match(line):
            return True
        stripped = line.strip()
        if not stripped or stripped.startswith("//"):
            continue
        if stripped.startswith("/*"):
            rest = stripped[2:]
            end = rest.find("*/")
            if end < 0:
                in_block = True
                continue
            if not rest[end + 2 :].strip():
                continue
        return False  # the package clause, or any other code: too late for a marker
    return False


def is_generated(path: Path) -> bool:
    """Whether the Go file at ``path`` is generated (unreadable files are not)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        return False
    return is_generated_source(head.decode("utf-8", errors="replace"))


class GeneratedFiles:
    """Answers "is this finding's file generated?" for one repository, each file read once.

    ``root`` is the Go module; finding paths are relative to the top of the git repository
    (or the module without git). A path that resolves outside that top is never read.
    """

    def __init__(self, root: Path) -> None:
        self.top = (work_tree_root(root.resolve()) or root).resolve()
        self._seen: dict[str, bool] = {}

    def __call__(self, file: str) -> bool:
        if file not in self._seen:
            path = (self.top / file).resolve()
            inside = path.is_relative_to(self.top) and path.suffix == ".go"
            self._seen[file] = inside and is_generated(path)
        return self._seen[file]


def drop_generated(root: Path, findings: Iterable[Finding]) -> tuple[list[Finding], int]:
    """``findings`` without those in generated files (syntax and compile errors stay);
    returns the kept findings and how many were dropped."""
    generated = GeneratedFiles(root)
    kept, dropped = [], 0
    for finding in findings:
        if finding.file and finding.rule not in KEPT_RULES and generated(finding.file):
            dropped += 1
        else:
            kept.append(finding)
    return kept, dropped
