"""gopipe's pytest plugin (entry point ``pytest11``): fixtures for testing gopipe plugins.

- ``go_repo``: a copy of a small real Go module in a temporary git repository.
- ``hello_repo``: a copy of gopipe's example service (package data in the wheel).
- ``gopipe_run``: run a pipeline or stage in-process and get the exit code and report.
- ``gopipe_plugin_manager``: a fresh plugin manager (built-ins only) to register a plugin in.
- :func:`run_stage`: run one stage in-process with a given config and plugin manager.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy
import pytest

# Re-exported so a plugin's tests can annotate ``gopipe_plugin_manager`` without importing pluggy.
from pluggy import PluginManager as PluginManager

from gopipe.artifacts import Artifact
from gopipe.context import RunArgs
from gopipe.report import Report, StageResult

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

# Not copied into test repositories: build output and caches of a run in the checkout.
_EXAMPLE_SKIP = frozenset({"dist", ".nox", "__pycache__"})

_GO_MOD = "module example.com/fixture\n\ngo 1.24\n"
_MAIN = """package main

import "fmt"

var version = "dev"

func main() { fmt.Println("fixture", version) }
"""


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    report: dict[str, Any]

    def stage(self, name: str) -> dict[str, Any]:
        return next(s for s in self.report["stages"] if s["name"] == name)


def make_git_repo(path: Path) -> Path:
    """Initialise a git repository with one commit, as CI checkouts have."""
    env = {
        "GIT_AUTHOR_NAME": "gopipe",
        "GIT_AUTHOR_EMAIL": "ci@example.com",
        "GIT_COMMITTER_NAME": "gopipe",
        "GIT_COMMITTER_EMAIL": "ci@example.com",
        "GIT_AUTHOR_DATE": "2026-01-02T03:04:05Z",
        "GIT_COMMITTER_DATE": "2026-01-02T03:04:05Z",
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    (path / ".gitignore").write_text("/dist/\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        subprocess.run(["git", *args], cwd=path, check=True, env=env)
    return path


@pytest.fixture
def go_repo(tmp_path: Path) -> Path:
    """A minimal Go module (one main package) in a fresh git repository."""
    repo = tmp_path / "repo"
    (repo / "cmd" / "fixture").mkdir(parents=True)
    (repo / "go.mod").write_text(_GO_MOD)
    (repo / "cmd" / "fixture" / "main.go").write_text(_MAIN)
    (repo / "pyproject.toml").write_text('[tool.gopipe]\ntargets = ["linux/amd64"]\n')
    return make_git_repo(repo)


def example_project(name: str = "hello") -> Traversable:
    """gopipe's example project ``name``, wherever this gopipe is installed from.

    A wheel ships it as package data (``gopipe/_fixtures/NAME``, mapped from ``examples/NAME``
    in pyproject.toml); an editable install or a plain source checkout reads ``examples/NAME``.
    """
    packaged = files("gopipe") / "_fixtures" / name
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "examples" / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"gopipe's example project {name!r} is neither package data ({packaged}) nor in a "
        f"source checkout ({checkout}); reinstall gopipe from its wheel"
    )


def copy_tree(source: Traversable, target: Path) -> Path:
    """Copy a resource directory (a folder or a zipped package) to ``target``."""
    target.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.name in _EXAMPLE_SKIP:
            continue
        if entry.is_dir():
            copy_tree(entry, target / entry.name)
        else:
            (target / entry.name).write_bytes(entry.read_bytes())
    return target


@pytest.fixture
def hello_repo(tmp_path: Path) -> Path:
    """A copy of gopipe's example service (examples/hello) in a fresh git repository."""
    return make_git_repo(copy_tree(example_project("hello"), tmp_path / "hello"))


@pytest.fixture
def gopipe_run() -> Iterator[Callable[..., RunResult]]:
    """Run ``gopipe run ARGS`` in-process against a repository; returns code and report."""
    from gopipe.cli import main

    def run(repo: Path, *args: str) -> RunResult:
        code = main(["run", *args, "-C", str(repo), "--plain"])
        report_file = repo / "dist" / "gopipe" / "report.json"
        report = json.loads(report_file.read_text()) if report_file.is_file() else {}
        return RunResult(code, report)

    yield run


# -- testing a plugin: a fresh plugin manager and one stage run -----------------------------
@pytest.fixture
def gopipe_plugin_manager() -> pluggy.PluginManager:
    """A fresh plugin manager with gopipe's hookspecs and built-in plugins only.

    Installed third-party plugins are *not* loaded, so a plugin's tests see exactly the
    plugins they register (``pm.register(my_plugin_module, name="my-plugin")``).
    """
    from gopipe.manager import create_manager

    return create_manager((), entry_points=False)


@dataclass(frozen=True)
class StageRun:
    """The outcome of :func:`run_stage`: exit code, the typed report and its artifacts."""

    exit_code: int
    report: Report
    error: str | None = None

    def stage(self, name: str) -> StageResult:
        found = self.report.stage(name)
        if found is None:
            raise KeyError(
                f"stage {name!r} did not run; ran: " + ", ".join(s.name for s in self.report.stages)
            )
        return found

    def artifacts(self, kind: str | None = None) -> list[Artifact]:
        return [a for a in self.report.artifacts if kind is None or a.kind == kind]


def run_stage(
    repo: Path,
    stage: str,
    *,
    config: Mapping[str, Any] | None = None,
    pm: pluggy.PluginManager | None = None,
    env: Mapping[str, str] | None = None,
    args: RunArgs | None = None,
) -> StageRun:
    """Run one stage (plus what it needs; ``notify`` alone) in ``repo`` in-process.

    ``config`` is the ``[tool.gopipe]`` table as a dict (it replaces the repository's own);
    ``pm`` is the plugin manager to take providers from (default: built-ins and installed
    plugins, as ``gopipe run`` would). The run goes through the same
    :class:`~gopipe.lifecycle.RunSession` as ``gopipe run``: configure and finish hooks run,
    bad config returns exit code 2 and ``error``, and the report goes to
    ``repo/dist/gopipe`` as usual.
    """
    from gopipe.lifecycle import RunSession

    environ = {**os.environ, **(env or {})}
    targets = [] if stage == "notify" else [stage]
    with tempfile.TemporaryDirectory(prefix="gopipe-config-") as tmp:
        config_file = None
        if config is not None:
            config_file = Path(tmp) / "pyproject.toml"
            config_file.write_text(toml_dumps({"tool": {"gopipe": dict(config)}}))
        session = RunSession(
            repo,
            config_file=config_file,
            args=args or RunArgs(pipeline=stage),
            stream=sys.stderr,
            environ=environ,
            pm=pm,
        )
        report = session.run(targets)
    return StageRun(report.exit_code, report, report.error)


def toml_dumps(data: Mapping[str, Any], _prefix: str = "") -> str:
    """A small TOML writer for test configs: tables, arrays of scalars, scalars."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in data.items():
        name = key if _BARE_KEY.match(key) else json.dumps(key)
        if isinstance(value, Mapping):
            tables.append((f"{_prefix}{name}", value))
        else:
            lines.append(f"{name} = {_toml_value(value)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for path, table in tables:
        body = toml_dumps(table, f"{path}.")
        out += f"\n[{path}]\n{body}"
    return out


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
