"""A run imports only the built-in providers it selects (``LAZY_PROVIDERS``), and still
validates every table, masks every secret and names duplicates as an eager load does."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pluggy
import pytest

from gopipe import hookimpl, hookspecs
from gopipe.config import load_config
from gopipe.errors import ConfigError, PluginError
from gopipe.hookspecs import PROJECT
from gopipe.manager import builtins, create_manager
from gopipe.registry import REGISTRATION_HOOKS, ProviderRegistry
from gopipe.stages import Stage
from gopipe.types import Linter

ROOT = Path(__file__).parents[2]
PYPROJECT = """\
[tool.gopipe.lint]
providers = ["gofmt"]

[tool.gopipe.package.archive]
format = "zip"

[tool.gopipe.upload.registry]
registry = "localhost:5000"
password = { env = "LAZY_TEST_PASSWORD" }
"""


def _hooks_of(module: str, name: str) -> tuple[set[str], list[tuple[str, str]]]:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(importlib.import_module(module), name=name)
    hooks = {h for h in dir(pm.hook) if not h.startswith("_") and getattr(pm.hook, h).get_hookimpls()}
    provided = [
        (stage.value, p.name)
        for stage, hook in REGISTRATION_HOOKS.items()
        for impl in getattr(pm.hook, hook).get_hookimpls()
        for p in impl.function() or ()
    ]
    return hooks, provided


def test_lazy_table_matches_what_each_plugin_registers() -> None:
    known = builtins()
    registration = set(REGISTRATION_HOOKS.values())
    for name, module in known.plugins:
        hooks, provided = _hooks_of(module, name)
        only_one_provider = hooks <= registration and len(provided) == 1
        if name in known.lazy:
            assert only_one_provider, f"{name} has other hooks or providers: it cannot be held back"
            assert provided == [known.lazy[name]], name
        else:  # every provider-only plugin is held back, so a run imports nothing it does not use
            assert not only_one_provider, f"{name} registers only {provided}: add it to LAZY_PROVIDERS"


def test_a_run_imports_only_what_it_selects(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    code = f"""
import json, sys
from pathlib import Path
from gopipe.config import load_config
from gopipe.manager import create_manager
from gopipe.registry import ProviderRegistry
from gopipe.secrets import Redactor, register_config_secrets
from gopipe.stages import Stage
registry = ProviderRegistry.collect(create_manager((), entry_points=False, lazy=True))
config = registry.validate(load_config(Path({str(tmp_path)!r})))
names = [p.name for p in registry.select(config, Stage.LINT)]
redactor = Redactor()
register_config_secrets(config.raw, redactor, config.root, kind=registry.secret_kind)
print(json.dumps({{"selected": names, "masked": redactor("pw=" + "s3cret-Passw0rd-42"),
                  "modules": sorted(m for m in sys.modules if m.startswith("gopipe_plugins."))}}))
"""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'src'}:{ROOT / 'plugins'}"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**env, "LAZY_TEST_PASSWORD": "s3cret-Passw0rd-42"},
    )
    seen = json.loads(out.stdout)
    assert seen["selected"] == ["gofmt"]
    modules = set(seen["modules"])
    assert "gopipe_plugins.lint.gofmt" in modules
    for unused in ("lint.staticcheck", "package.archive", "package.oci_image", "deploy.helm", "notify.slack"):
        assert f"gopipe_plugins.{unused}" not in modules
    # the registry table holds a secret reference: its type is needed, so its module is read,
    # and the password is masked although this run does not upload
    assert "gopipe_plugins.upload.registry" in modules
    assert "s3cret" not in seen["masked"]


def test_an_unset_secret_reference_imports_nothing(tmp_path: Path) -> None:
    """The variable a secret names is not set: there is nothing to mask, so the provider
    whose table it is in is not imported to learn the option's type."""
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    code = f"""
import sys
from pathlib import Path
from gopipe.config import load_config
from gopipe.manager import create_manager
from gopipe.registry import ProviderRegistry
from gopipe.secrets import Redactor, register_config_secrets
registry = ProviderRegistry.collect(create_manager((), entry_points=False, lazy=True))
config = registry.validate(load_config(Path({str(tmp_path)!r})))
register_config_secrets(config.raw, Redactor(), config.root, kind=registry.secret_kind)
print("gopipe_plugins.upload.registry" in sys.modules)
"""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'src'}:{ROOT / 'plugins'}"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"


def test_typo_in_a_table_of_a_stage_that_does_not_run_is_still_caught(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.gopipe.package.archiv]\nformat = 'zip'\n")
    registry = ProviderRegistry.collect(create_manager((), entry_points=False, lazy=True))
    with pytest.raises(ConfigError, match="archive"):
        registry.validate(load_config(tmp_path))


def test_unknown_selected_provider_lists_the_held_back_ones(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.gopipe.lint]\nproviders = ['staticchek']\n")
    registry = ProviderRegistry.collect(create_manager((), entry_points=False, lazy=True))
    config = registry.validate(load_config(tmp_path))
    with pytest.raises(ConfigError, match=r"choose one of: .*golangci-lint.*staticcheck") as err:
        registry.select(config, Stage.LINT)
    assert "staticcheck" in err.value.fix


class _SecondGofmt:
    @hookimpl
    def gopipe_linters(self) -> list[Linter[None]]:
        return [Linter(name="gofmt", run=lambda ctx: None)]


def test_a_plugin_reusing_a_held_back_name_is_named_with_it() -> None:
    pm = create_manager((), entry_points=False, lazy=True)
    pm.register(_SecondGofmt(), name="second-gofmt")
    with pytest.raises(PluginError, match="'gofmt' for stage 'lint' is registered twice"):
        ProviderRegistry.collect(pm)


def test_inspection_still_lists_every_provider() -> None:
    lazy = ProviderRegistry.collect(create_manager((), entry_points=False, lazy=True))
    eager = ProviderRegistry.collect(create_manager((), entry_points=False))
    assert sorted((s, e.name) for s, e in lazy.all()) == sorted((s, e.name) for s, e in eager.all())


def test_a_run_without_a_registry_does_not_import_the_registry_client() -> None:
    """``gopipe_oci`` resolves its names on first use: the run's core (the remote cache's
    options need only ``RetryPolicy``) does not pay for the registry client, auth and TLS."""
    code = (
        "import sys, gopipe.lifecycle, gopipe_plugins._common.registry_access\n"
        "print(sorted(m for m in sys.modules if m.startswith('gopipe_oci')))"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'src'}:{ROOT / 'plugins'}"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    loaded = set(json.loads(out.stdout.replace("'", '"')))
    assert "gopipe_oci.retry" in loaded
    assert not loaded & {"gopipe_oci.registry", "gopipe_oci.auth", "gopipe_oci.transport", "gopipe_oci.image"}


def test_every_name_gopipe_oci_exports_resolves() -> None:
    import gopipe_oci

    for name in gopipe_oci.__all__:
        assert getattr(gopipe_oci, name) is not None, name
    with pytest.raises(AttributeError):
        _ = gopipe_oci.no_such_name  # type: ignore[attr-defined]
