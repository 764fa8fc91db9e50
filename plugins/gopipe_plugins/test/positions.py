"""Where each test is declared, for the ``file`` and ``line`` of its JUnit test case.

The GitHub JUnit reporters (dorny/test-reporter, mikepenz/action-junit-report,
EnricoMi/publish-unit-test-result-action) read these attributes to link a test and annotate
its source. ``go test -json`` does not say where a test is, so the package's ``_test.go``
files are searched for ``func TestX(``; a subtest (``TestX/case``) points at its top-level
test, the function it runs in. Files are named relative to the repository, which may hold
the module in a subdirectory.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from pathlib import Path

from gopipe_plugins._common.repo_paths import repository_path

# Top-level test, benchmark, fuzz and example functions (go test runs these by name).
_FUNC = re.compile(r"^func\s+(?P<name>(?:Test|Benchmark|Fuzz|Example)\w*)\s*\(", re.MULTILINE)


class TestPositions:
    """``(package import path, test name) -> (file, line)``; each package read once."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, package_dirs: Mapping[str, Path], module_root: Path, repo_root: Path) -> None:
        self._dirs = dict(package_dirs)
        self._module_root = module_root
        self._repo_root = repo_root
        self._found: dict[str, dict[str, tuple[str, int]]] = {}
        self._lock = threading.Lock()

    def __call__(self, package: str, test: str) -> tuple[str, int] | None:
        with self._lock:
            if package not in self._found:
                self._found[package] = self._scan(self._dirs.get(package))
            return self._found[package].get(test.split("/", 1)[0])

    def _scan(self, directory: Path | None) -> dict[str, tuple[str, int]]:
        found: dict[str, tuple[str, int]] = {}
        if directory is None or not directory.is_dir():
            return found
        for path in sorted(directory.glob("*_test.go")):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            file = repository_path(path, self._module_root, self._repo_root)
            if file is None:
                continue
            for match in _FUNC.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.setdefault(match["name"], (file, line))  # the first file, as sorted
        return found
