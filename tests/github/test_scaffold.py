"""`gopipe new-plugin`: the scaffold passes its own tests, builds into a wheel that
installs into a fresh environment, is listed by `gopipe plugins`, is selected by name,
and is blocked by `disable_plugins` / GOPIPE_DISABLE_PLUGINS."""

from __future__ import annotations

import ast
import importlib.util
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from gopipe.cli import main
from gopipe.manager import create_manager
from gopipe.registry import ProviderRegistry
from gopipe.stages import Stage
from gopipe.testing import run_stage
from gopipe.types import PROVIDER_TYPES


def scaffold(tmp_path: Path, name: str, stage: str) -> Path:
    assert main(["new-plugin", name, "--stage", stage, "-o", str(tmp_path)]) == 0
    return tmp_path / f"gopipe-{name}"


def pytest_in(project: Path, python: str = sys.executable, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        text=True,
        capture_output=True,
        check=False,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize("stage", [s.value for s in Stage])
def test_scaffold_registers_a_typed_provider_for_every_stage(
    tmp_path: Path, stage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = scaffold(tmp_path, "probe", stage)
    module_file = project / "src" / "gopipe_probe" / "plugin.py"
    spec = importlib.util.spec_from_file_location(f"gopipe_probe_{stage}", module_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    pm = create_manager((), entry_points=False)
    pm.register(module, name="probe")
    entry = ProviderRegistry.collect(pm).providers(Stage(stage))["probe"]
    assert isinstance(entry.provider, PROVIDER_TYPES[Stage(stage)])
    assert entry.provider.options.__name__ == "Options"
    assert 'probe = "gopipe_probe.plugin"' in (project / "pyproject.toml").read_text()


# ProviderContext members the scaffold may show new authors: the curated, stable ones.
STABLE_CONTEXT = {
    "options", "log", "sh", "fail", "add_artifact", "summary", "root", "out", "git", "repo_path", "dist_path",
}  # fmt: skip


def gopipe_imports(source: Path) -> set[str]:
    """The ``gopipe*`` modules a generated file imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m for m in found if m.split(".")[0] == "gopipe"}


def context_members(source: Path) -> set[str]:
    """Attributes the generated code reads or sets on ``ctx``."""
    return {
        node.attr
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ctx"
    }


@pytest.mark.parametrize("stage", [s.value for s in Stage])
def test_scaffold_uses_only_the_facade(tmp_path: Path, stage: str) -> None:
    project = scaffold(tmp_path, "probe", stage)
    plugin = project / "src" / "gopipe_probe" / "plugin.py"
    assert gopipe_imports(plugin) == {"gopipe.api"}
    assert context_members(plugin) <= STABLE_CONTEXT, context_members(plugin) - STABLE_CONTEXT
    assert gopipe_imports(project / "tests" / "test_plugin.py") == {"gopipe.testing"}
    assert "pluggy" not in (project / "tests" / "test_plugin.py").read_text()


@pytest.mark.parametrize(
    "stage",
    [  # the lint and package scaffolds' own tests run their stage with Go
        pytest.param("lint", marks=pytest.mark.slow),
        pytest.param("notify", marks=pytest.mark.slow),  # a nested pytest run: ~20 s
        pytest.param("package", marks=pytest.mark.slow),
    ],
)
def test_scaffolded_tests_pass_from_source(tmp_path: Path, stage: str) -> None:
    project = scaffold(tmp_path, "demo", stage)
    # keep the caller's PYTHONPATH: it decides which gopipe (checkout or worktree) is tested
    pythonpath = os.pathsep.join(filter(None, [str(project / "src"), os.environ.get("PYTHONPATH")]))
    result = pytest_in(project, PYTHONPATH=pythonpath)
    assert result.returncode == 0, result.stdout + result.stderr
    if shutil.which("ruff"):
        lint = subprocess.run(
            [
                "ruff",
                "check",
                "--select",
                "E,F,W,I,B,UP",
                "--line-length",
                "110",
                "--target-version",
                "py310",
                ".",
            ],
            cwd=project,
            text=True,
            capture_output=True,
            check=False,
        )
        assert lint.returncode == 0, lint.stdout


def test_bad_names_and_existing_directories_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new-plugin", "Bad_Name", "-o", str(tmp_path)]) == 2
    assert "invalid plugin name" in capsys.readouterr().err
    scaffold(tmp_path, "twice", "notify")
    assert main(["new-plugin", "twice", "-o", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_in_process_run_stage_rejects_unselected_provider(go_repo: Path) -> None:
    result = run_stage(go_repo, "notify", config={"notify": {"providers": ["nobody"]}})
    assert result.exit_code == 2 and "not available" in (result.error or "")


@pytest.mark.slow
def test_wheel_installs_lists_selects_and_blocks(tmp_path: Path, go_repo: Path) -> None:
    project = scaffold(tmp_path, "shout", "notify")
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(wheels),
            str(project),
        ],
        text=True,
        capture_output=True,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = wheels.glob("gopipe_shout-0.1.0-*.whl")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    python = str(env_dir / "bin" / "python")
    install = subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--no-index",
            "--disable-pip-version-check",
            "--find-links",
            str(wheels),
            str(wheel),
        ],
        text=True,
        capture_output=True,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    # The plugin's own tests pass in the environment it was installed into.
    tests = pytest_in(project, python)
    assert tests.returncode == 0, tests.stdout + tests.stderr

    def gopipe(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [python, "-m", "gopipe.cli", *args],
            cwd=go_repo,
            text=True,
            capture_output=True,
            check=False,
            env={**os.environ, "COLUMNS": "200", **env},
        )

    listed = gopipe("plugins")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if " shout " in line)
    assert "notify" in row and "gopipe-shout 0.1.0" in row

    pyproject = go_repo / "pyproject.toml"
    base = pyproject.read_text()
    pyproject.write_text(
        base + '\n[tool.gopipe.notify]\nproviders = ["shout"]\n'
        '[tool.gopipe.notify.shout]\nmessage = "{project} says hi"\n'
    )
    selected = gopipe("run", "notify", "--plain")
    assert selected.returncode == 0, selected.stdout + selected.stderr
    assert (go_repo / "dist" / "gopipe" / "shout.txt").read_text() == "repo says hi\n"

    blocked = gopipe("run", "notify", "--plain", GOPIPE_DISABLE_PLUGINS="shout")
    assert blocked.returncode == 2
    assert "provider 'shout' for stage 'notify' is not available" in blocked.stderr

    pyproject.write_text(
        pyproject.read_text().replace("[tool.gopipe]\n", '[tool.gopipe]\ndisable_plugins = ["shout"]\n', 1)
    )
    blocked = gopipe("run", "notify", "--plain")
    assert blocked.returncode == 2
    assert "provider 'shout' for stage 'notify' is not available" in blocked.stderr
    assert " shout " not in gopipe("plugins").stdout
