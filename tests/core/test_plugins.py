"""The plugin host: selection by name, blocking, duplicates, and a real third-party plugin
installed from its own distribution into a temporary virtualenv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pluggy
import pytest

from gopipe import hookimpl
from gopipe.config import load_config
from gopipe.errors import ConfigError, PluginError
from gopipe.manager import builtins, create_manager
from gopipe.registry import ProviderRegistry
from gopipe.stages import Stage
from gopipe.types import Linter, Notifier

FIXTURES = Path(__file__).parents[1] / "fixtures" / "plugins"
ROOT = Path(__file__).parents[2]


def test_each_run_gets_its_own_manager() -> None:
    a, b = create_manager(entry_points=False), create_manager(entry_points=False)
    assert a is not b
    assert {n for n, _ in builtins().plugins} <= {a.get_name(p) for p in a.get_plugins()}
    import gopipe

    assert not any(isinstance(v, pluggy.PluginManager) for v in vars(gopipe).values())


def test_blocked_builtin_is_not_registered(tmp_path: Path) -> None:
    pm = create_manager(["staticcheck"], entry_points=False)
    assert pm.is_blocked("staticcheck")
    reg = ProviderRegistry.collect(pm)
    assert "staticcheck" not in reg.providers(Stage.LINT)
    with pytest.raises(ConfigError, match="provider 'staticcheck' for stage 'lint' is not available"):
        reg.select(load_config(tmp_path), Stage.LINT)


class _Dup:
    @hookimpl
    def gopipe_linters(self) -> list[Linter]:
        return [Linter(name="govet", run=lambda ctx: None)]


class _WrongType:
    @hookimpl
    def gopipe_linters(self) -> list[Notifier]:
        return [Notifier(name="oops", run=lambda ctx: None)]


def test_duplicate_provider_names_fail() -> None:
    pm = create_manager(entry_points=False)
    pm.register(_Dup(), name="dup")
    expected = (
        r"provider 'govet' for stage 'lint' is registered twice: "
        r"by gopipe .* \(plugin 'govet'\) and by gopipe .* \(plugin 'dup'\)"
    )
    with pytest.raises(PluginError, match=expected):
        ProviderRegistry.collect(pm)


def test_wrong_provider_type_fails() -> None:
    pm = create_manager(entry_points=False)
    pm.register(_WrongType(), name="wrong")
    with pytest.raises(PluginError, match="returned Notifier, expected Linter"):
        ProviderRegistry.collect(pm)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A virtualenv that sees gopipe (system site-packages) and has the fixture plugin installed."""
    path = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(path)], check=True)
    pip = [str(path / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps"]
    subprocess.run([*pip, str(_copy(FIXTURES / "extra-lint", path))], check=True)
    shim = path / "bin" / "gopipe"  # gopipe itself comes from the system site-packages
    shim.write_text(f"#!{path}/bin/python\nimport sys\nfrom gopipe.cli import main\nsys.exit(main())\n")
    shim.chmod(0o755)
    yield path


def _copy(fixture: Path, into: Path) -> Path:
    """Build from a copy: setuptools writes build/ and *.egg-info next to the sources."""
    target = into / "src" / fixture.name
    shutil.copytree(fixture, target)
    return target


def _gopipe(
    venv: Path, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "gopipe"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture
def todo_repo(go_repo: Path) -> Path:
    (go_repo / "cmd" / "fixture" / "todo.go").write_text("package main\n\n// TODO: remove\n")
    (go_repo / "pyproject.toml").write_text(
        '[tool.gopipe]\ntargets = ["linux/amd64"]\n[tool.gopipe.lint]\nproviders = ["todo"]\n'
    )
    return go_repo


@pytest.mark.slow
def test_third_party_plugin_is_listed_selected_and_blockable(venv: Path, todo_repo: Path) -> None:
    listed = _gopipe(venv, "plugins", cwd=todo_repo)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if " todo " in line)
    assert "gopipe-extra-lint 0.3.1" in row and "extra-lint" in row and "✔" in row

    ran = _gopipe(venv, "run", "lint", "--plain", cwd=todo_repo)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "1 TODO comment(s), first at cmd/fixture/todo.go:3" in ran.stdout

    blocked = _gopipe(
        venv, "run", "lint", "--plain", cwd=todo_repo, env={"GOPIPE_DISABLE_PLUGINS": "extra-lint"}
    )
    assert blocked.returncode == 2
    assert "provider 'todo' for stage 'lint' is not available (plugin may not be installed)" in blocked.stderr

    config = todo_repo / "pyproject.toml"
    config.write_text(
        config.read_text().replace("[tool.gopipe]\n", '[tool.gopipe]\ndisable_plugins = ["extra-lint"]\n')
    )
    blocked = _gopipe(venv, "run", "lint", "--plain", cwd=todo_repo)
    assert blocked.returncode == 2 and "not available" in blocked.stderr


@pytest.mark.slow
def test_duplicate_names_across_distributions(venv: Path, go_repo: Path) -> None:
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    subprocess.run([*pip, "install", "-q", "--no-deps", str(_copy(FIXTURES / "dup-gofmt", venv))], check=True)
    try:
        ran = _gopipe(venv, "run", "lint", "--plain", cwd=go_repo)
        assert ran.returncode == 2
        assert (
            "provider 'gofmt' for stage 'lint' is registered twice: by gopipe 0.1.0 (plugin 'gofmt') "
            "and by gopipe-dup-gofmt 1.0.0 (plugin 'dup-gofmt')"
        ) in ran.stderr
        assert "Traceback" not in ran.stderr
    finally:
        subprocess.run([*pip, "uninstall", "-q", "-y", "gopipe-dup-gofmt"], check=True)
