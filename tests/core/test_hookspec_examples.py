"""Every ``Example::`` in :mod:`gopipe.hookspecs` runs as written.

Each example is a complete plugin module: it is executed as a module, registered on a fresh
plugin manager, and its hook is called there. Registration hooks must return providers of the
stage's type that the real registry accepts; observer hooks must run against a real run.
"""

from __future__ import annotations

import ast
import inspect
import json
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pluggy
import pytest
from tests.core.run_context import GIT, make_run, provider_context

from gopipe import hookspecs
from gopipe.artifacts import Finding
from gopipe.config import NoSettings, load_config, schema_for
from gopipe.context import RunArgs
from gopipe.errors import ConfigError
from gopipe.manager import create_manager
from gopipe.registry import REGISTRATION_HOOKS, ProviderRegistry
from gopipe.report import Report, StageResult
from gopipe.stages import Stage
from gopipe.types import PROVIDER_TYPES, MergeInput, Merger, PartFile, StageSettings

STAGE_OF_HOOK = {hook: stage for stage, hook in REGISTRATION_HOOKS.items()}
HOOKS = sorted(
    name
    for name, fn in vars(hookspecs).items()
    if name.startswith("gopipe_") and hasattr(fn, f"{hookspecs.PROJECT}_spec")
)


def example_of(hook: str) -> str:
    """The code of the hookspec's one ``Example::`` block."""
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert doc.count("Example::") == 1, f"{hook}: expected one Example:: block"
    lines = doc.split("Example::", 1)[1].splitlines()[1:]
    block: list[str] = []
    for line in lines:
        if line.strip() and not line.startswith(" "):
            break  # the docstring's text goes on after the block
        block.append(line)
    return textwrap.dedent("\n".join(block)).strip() + "\n"


def load_example(hook: str, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The example executed as a module of its own (as a plugin's module would be)."""
    code = example_of(hook)
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or name == "gopipe.api", f"{hook} example imports {name}"
    module = types.ModuleType(f"example_{hook}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code, f"<{hook} example>", "exec"), module.__dict__)
    return module


def only(pm: pluggy.PluginManager, module: types.ModuleType, hook: str) -> Any:
    """The hook's caller on ``pm`` with the example's implementation alone (no built-ins)."""
    return pm.subset_hook_caller(hook, remove_plugins=[p for p in pm.get_plugins() if p is not module])


def test_every_hookspec_has_an_example() -> None:
    assert len(HOOKS) == 15
    for hook in HOOKS:
        assert "@hookimpl" in example_of(hook), hook
    assert {h for h in HOOKS if h in STAGE_OF_HOOK} == set(REGISTRATION_HOOKS.values())


@pytest.mark.parametrize("hook", sorted(STAGE_OF_HOOK))
def test_registration_example_returns_providers_of_its_stage(
    hook: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load_example(hook, monkeypatch)
    pm = create_manager((), entry_points=False)
    pm.register(module, name="example")
    providers = [p for returned in only(pm, module, hook)() for p in returned]
    stage = STAGE_OF_HOOK[hook]
    assert providers, f"{hook} example registers nothing"
    for provider in providers:
        assert isinstance(provider, PROVIDER_TYPES[stage])
        assert callable(provider.run)
        assert schema_for(provider.options)["type"] == "object"
    # the real registry takes them: right type, no clash with a built-in name
    registry = ProviderRegistry.collect(pm)
    for provider in providers:
        assert registry.providers(stage)[provider.name].provider == provider


def test_stage_settings_example_is_validated_and_read_by_providers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    module = load_example("gopipe_stage_settings", monkeypatch)
    pm = create_manager((), entry_points=False)
    pm.register(module, name="example")
    (entry,) = module.gopipe_stage_settings()
    assert isinstance(entry, StageSettings)
    assert ProviderRegistry.collect(pm).stage_settings[entry.stage] == entry
    stage = entry.stage.value
    # the core validates the keys before the run; a provider of the stage reads them typed
    (tmp_path / "pyproject.toml").write_text(f'[tool.gopipe.{stage}]\nexclude = ["vendor/**"]\n')
    ctx = provider_context(make_run(tmp_path, pm=pm), stage, "probe", None)
    assert ctx.stage_settings(entry.options).exclude == ("vendor/**",)
    with pytest.raises(TypeError, match="settings are LintSettings, not NoSettings"):
        ctx.stage_settings(NoSettings)
    # and its check refuses what the types cannot
    (tmp_path / "pyproject.toml").write_text(f'[tool.gopipe.{stage}]\nexclude = ["/etc/*"]\n')
    with pytest.raises(ConfigError, match=r"'/etc/\*' is an absolute path"):
        make_run(tmp_path, pm=pm)


def test_mergers_example_folds_the_jobs_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    module = load_example("gopipe_mergers", monkeypatch)
    pm = create_manager((), entry_points=False)
    pm.register(module, name="example")
    (merger,) = [m for returned in only(pm, module, "gopipe_mergers")() for m in returned]
    assert isinstance(merger, Merger)
    parts: dict[str, Path] = {}
    files = []
    for job in ("shard-1", "shard-2"):
        parts[job] = tmp_path / "parts" / job
        parts[job].mkdir(parents=True)
        (parts[job] / "bench.txt").write_text(f"BenchmarkGreet {job}\n")
        files.append(PartFile(job, {"kind": "bench", "name": "bench.txt"}, parts[job] / "bench.txt"))
    out = tmp_path / "dist" / "gopipe"
    out.mkdir(parents=True)
    result = merger.merge(MergeInput(files, parts, out, lambda f: "not copied", tmp_path, merger.stage))
    assert result.problems == []
    assert (out / "bench.txt").read_text() == "BenchmarkGreet shard-1\nBenchmarkGreet shard-2\n"
    ((artifact),) = result.artifacts
    assert (artifact.kind, artifact.path, artifact.extra["parts"]) == ("bench", "dist/gopipe/bench.txt", 2)


def test_configure_example_checks_the_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    module = load_example("gopipe_configure", monkeypatch)
    pm = create_manager((), entry_points=False)
    pm.register(module, name="example")
    pm.hook.gopipe_configure(config=load_config(tmp_path), args=RunArgs())  # default targets: accepted
    (tmp_path / "pyproject.toml").write_text('[tool.gopipe]\ntargets = ["linux/amd64", "linux/386"]\n')
    with pytest.raises(ConfigError, match="linux/386"):
        pm.hook.gopipe_configure(config=load_config(tmp_path), args=RunArgs())


def _observe(hook: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **kwargs: Any) -> Path:
    """Call only the example's implementation of an observer hook on a real run; return dist/gopipe."""
    module = load_example(hook, monkeypatch)
    pm = create_manager((), entry_points=False)
    pm.register(module, name="example")
    run = make_run(tmp_path / "repo", pm=pm)
    run.artifacts.add_finding("lint", Finding("gofmt", "gofmt", "not gofmt-ed", file="main.go", line=3))
    only(pm, module, hook)(run=run, **kwargs)
    run.events.close()
    return run.out


def test_stage_started_example(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    out = _observe("gopipe_stage_started", monkeypatch, tmp_path, stage="test")
    (line,) = (out / "stage-starts.jsonl").read_text().splitlines()
    assert json.loads(line)["stage"] == "test"


def test_stage_finished_example(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    out = _observe("gopipe_stage_finished", monkeypatch, tmp_path, result=StageResult("lint", "failed", 1.0))
    assert (out / "lint-findings.txt").read_text() == "main.go:3: not gofmt-ed (gofmt)\n"


def test_run_finished_example(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    report = Report(
        pipeline="ci",
        status="failed",
        started_at=0.0,
        duration_s=2.5,
        git=GIT,
        stages=[StageResult("lint", "failed", 1.0), StageResult("test", "success", 1.5)],
        artifacts=[],
        exit_code=1,
    )
    out = _observe("gopipe_run_finished", monkeypatch, tmp_path, report=report)
    assert (out / "runs.log").read_text() == "ci failed 2.5s failed=lint\n"


def test_examples_cover_every_stage() -> None:
    assert {STAGE_OF_HOOK[h] for h in HOOKS if h in STAGE_OF_HOOK} == set(Stage)
