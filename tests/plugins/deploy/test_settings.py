"""The stage-level ``[tool.gopipe.deploy]`` keys: declared by the plugin, validated once by the core.

Pure Python (no cluster): the settings are checked before any stage runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gopipe.config import Config, load_config
from gopipe.context import RunArgs
from gopipe.errors import ConfigError
from gopipe.manager import create_manager
from gopipe.registry import ProviderRegistry
from gopipe.stages import Stage
from gopipe_plugins.deploy.environments import deploy_settings
from gopipe_plugins.deploy.options import DEFAULT_ALLOWED_REFS, DeploySettings, Environment

DEPLOY = """\
[tool.gopipe.deploy]
providers = ["kubectl", "helm"]
allowed_refs = ["default-branch", "tag:v*"]

[tool.gopipe.deploy.kubectl]
namespace = "apps"

[tool.gopipe.deploy.environments.staging]
provider = "kubectl"
namespace = "staging"

[tool.gopipe.deploy.environments.production]
provider = "helm"
allowed_refs = ["release-tags"]
kubeconfig_secret = { env = "PROD_KUBECONFIG" }
"""


def validated(repo: Path, text: str, *disabled: str) -> Config:
    (repo / "pyproject.toml").write_text(text)
    registry = ProviderRegistry.collect(create_manager(disabled, entry_points=False))
    return registry.validate(load_config(repo))


def test_providers_read_typed_settings(tmp_path: Path) -> None:
    config = validated(tmp_path, DEPLOY)
    deploy = config.stage(Stage.DEPLOY)
    settings = deploy_settings(config)
    assert settings is deploy.settings and isinstance(settings, DeploySettings)
    assert settings.allowed_refs == ("default-branch", "tag:v*")
    assert list(settings.environments) == ["staging", "production"]  # promotion order
    production = settings.environments["production"]
    assert isinstance(production, Environment) and production.allowed_refs == ("release-tags",)
    assert production.kubeconfig_secret is not None and "PROD_KUBECONFIG" in repr(
        production.kubeconfig_secret
    )
    assert dict(deploy.tables) == {"kubectl": {"namespace": "apps"}}  # environments is no provider table


def test_defaults_without_a_deploy_table(tmp_path: Path) -> None:
    settings = deploy_settings(validated(tmp_path, "[tool.gopipe]\n"))
    assert settings.environments == {} and settings.allowed_refs == DEFAULT_ALLOWED_REFS


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[tool.gopipe.deploy.enviroments.staging]\n", "deploy.enviroments: unknown key 'enviroments' "),
        ('[tool.gopipe.deploy]\nallowed_refs = "main"\n', "deploy.allowed_refs: expected array, got str"),
        (
            '[tool.gopipe.deploy]\nproviders = ["kubectl"]\n'
            '[tool.gopipe.deploy.environments.x]\nprovider = "helm"\n',
            "deploy.environments.x.provider: provider 'helm' is not selected",
        ),
    ],
)
def test_bad_settings_fail_validation(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validated(tmp_path, table)


def test_blocked_settings_plugin_is_one_clear_line(tmp_path: Path) -> None:
    config = validated(tmp_path, "[tool.gopipe]\n", "deploy-settings")
    with pytest.raises(
        ConfigError, match=r"deploy stage settings are not declared.*'deploy-settings' plugin"
    ):
        deploy_settings(config)


@pytest.mark.parametrize("name", ["../../x", "a/b", ".hidden", "..", "a..b", "x" * 64])
def test_environment_names_are_plain_directory_names(tmp_path: Path, name: str) -> None:
    """The name becomes dist/gopipe/deploy/<name>: one that could climb out is refused up front."""
    text = f'[tool.gopipe.deploy]\nproviders = ["kubectl"]\n[tool.gopipe.deploy.environments."{name}"]\n'
    with pytest.raises(ConfigError) as err:
        validated(tmp_path, text)
    assert err.value.key == f"tool.gopipe.deploy.environments.{name}"
    assert "not a plain name" in err.value.message


@pytest.mark.parametrize(("option", "value"), [("kubeconfig", "../kubeconfig"), ("manifests", "/etc")])
def test_environment_files_stay_in_the_repository(tmp_path: Path, option: str, value: str) -> None:
    text = (
        '[tool.gopipe.deploy]\nproviders = ["kubectl"]\n'
        f'[tool.gopipe.deploy.environments.staging]\n{option} = "{value}"\n'
    )
    with pytest.raises(ConfigError, match="leaves the repository") as err:
        validated(tmp_path, text)
    assert err.value.key == f"tool.gopipe.deploy.environments.staging.{option}"


def test_unknown_env_argument_is_refused_at_configure_time(tmp_path: Path) -> None:
    config = validated(tmp_path, DEPLOY)
    pm = create_manager((), entry_points=False)
    pm.hook.gopipe_configure(config=config, args=RunArgs(environment="staging"))
    pm.hook.gopipe_configure(config=config, args=RunArgs())  # no --env: every environment
    with pytest.raises(ConfigError) as err:
        pm.hook.gopipe_configure(config=config, args=RunArgs(environment="stagign"))
    assert (err.value.file, err.value.key) == ("command line", "--env")
    assert err.value.fix == "did you mean 'staging'? choose one of: staging, production"
    bare = validated(tmp_path, "[tool.gopipe]\n")
    with pytest.raises(ConfigError, match="none are configured"):
        pm.hook.gopipe_configure(config=bare, args=RunArgs(environment="staging"))
