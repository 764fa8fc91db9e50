"""Option handling: oci-image runtime options and a registry base, insecure refusal, small rules."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from tests.plugins.upload.conftest import (
    RunFn,
    UsersRegistry,
    artifacts,
    env_ref,
    git,
    registry_env,
    registry_table,
    set_tables,
    unique_repo,
)

from gopipe.config import load_config, schema_for
from gopipe.errors import ConfigError
from gopipe.manager import create_manager
from gopipe.registry import ProviderRegistry
from gopipe.stages import Stage
from gopipe_oci import (
    Credentials,
    Layout,
    RegistryClient,
    RegistryError,
    RetryPolicy,
    build_image,
    push_layout,
    sanitize_tag,
)
from gopipe_oci.reference import is_loopback
from gopipe_plugins.upload.ecr import translate
from gopipe_plugins.upload.harbor import at_or_above


@pytest.mark.slow
def test_oci_image_options_on_a_registry_base(
    cd_repo: Path,
    users_registry: UsersRegistry,
    gopipe_run: RunFn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a base image with a tool in it, pushed to the TLS+auth registry first
    tool = tmp_path / "tool"
    tool.write_bytes(b"#!/bin/true\n" * 50)
    base = build_image(
        {"linux/amd64": tool, "linux/arm64": tool}, tmp_path / "base", name="tool", epoch=1_700_000_000
    )
    reg = users_registry.registry
    assert reg.username and reg.password
    base_ref = f"{reg.host}/bases/tool:1"
    with RegistryClient(
        reg.host, credentials=Credentials(reg.username, reg.password), ca_file=reg.ca_cert
    ) as client:
        push_layout(base.layout, base_ref, client=client)

    for key, value in registry_env(reg).items():
        monkeypatch.setenv(key, value)
    git(cd_repo, "remote", "add", "origin", "git@github.com:acme/hello.git")
    access = {k: v for k, v in registry_table().items() if k != "registry"}
    set_tables(
        cd_repo,
        {
            "providers": ["oci-image"],
            "oci-image": {
                "base": base_ref,
                **access,
                "entrypoint": ["/usr/local/bin/hello", "-addr"],
                "cmd": [":9090"],
                "user": "1000:1000",
                "ports": ["9090", "53/udp"],
                "env": {"MODE": "prod"},
                "labels": {"team": "platform"},
            },
        },
    )
    result = gopipe_run(cd_repo, "package")
    out = capsys.readouterr().out
    assert result.exit_code == 0, out
    [image] = artifacts(result, "image")
    layout = Layout(cd_repo / image["extra"]["layout"])
    index = layout.read_json(image["extra"]["index_digest"])
    assert index["annotations"]["org.opencontainers.image.source"] == "https://github.com/acme/hello"
    assert index["annotations"]["org.opencontainers.image.version"] == "1.2.3"
    for entry in index["manifests"]:
        manifest = layout.read_json(entry["digest"])
        assert manifest["annotations"]["org.opencontainers.image.base.name"] == base_ref
        base_layers = {la.digest for img in base.images for la in img.layers}
        assert {la["digest"] for la in manifest["layers"][:-1]} <= base_layers
        assert len(manifest["layers"]) == 3  # static base + tool + hello
        config = layout.read_json(manifest["config"]["digest"])["config"]
        assert config["Entrypoint"] == ["/usr/local/bin/hello", "-addr"]
        assert config["Cmd"] == [":9090"]
        assert config["User"] == "1000:1000"
        assert config["ExposedPorts"] == {"9090/tcp": {}, "53/udp": {}}
        assert "MODE=prod" in config["Env"]
        assert config["Labels"] == {"team": "platform"}
    assert users_registry.users["gopipe"] not in out


def test_insecure_is_refused_for_a_remote_registry(
    cd_repo: Path, gopipe_run: RunFn, capsys: pytest.CaptureFixture[str]
) -> None:
    set_tables(
        cd_repo,
        {"providers": ["oci-image"]},
        {
            "providers": ["registry"],
            "registry": {"registry": "registry.internal.test:5000", "insecure": True},
        },
    )
    result = gopipe_run(cd_repo, "upload")
    capsys.readouterr()
    assert result.exit_code == 2  # a config error, before anything is built
    assert result.report["error"] == (
        "pyproject.toml: tool.gopipe.upload.registry.insecure: insecure = true is only allowed for "
        "loopback registries, not registry.internal.test:5000 (fix: remove insecure and set ca_file "
        "to the registry's CA certificate)"
    )


@pytest.mark.slow
def test_insecure_from_environment_is_refused_when_the_stage_runs(
    cd_repo: Path,
    gopipe_run: RunFn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOME_REGISTRY", "registry.internal.test")
    set_tables(
        cd_repo,
        {"providers": ["oci-image"]},
        {"providers": ["registry"], "registry": {"registry": env_ref("SOME_REGISTRY"), "insecure": True}},
    )
    result = gopipe_run(cd_repo, "upload")
    capsys.readouterr()
    assert result.exit_code == 1
    assert (
        "insecure = true is only allowed for loopback registries, not registry.internal.test"
        in result.stage("upload")["error"]
    )
    assert artifacts(result, "image-ref") == []


@pytest.mark.slow
def test_missing_registry_env_is_a_clear_failure(
    cd_repo: Path, gopipe_run: RunFn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GOPIPE_REGISTRY", raising=False)
    result = gopipe_run(cd_repo, "upload")  # the example's own tables
    capsys.readouterr()
    assert result.exit_code == 1
    assert (
        "tool.gopipe.upload.registry.registry is empty (environment variable GOPIPE_REGISTRY "
        "is not set)" in result.stage("upload")["error"]
    )


@pytest.mark.parametrize(
    ("rendered", "tag"),
    [
        ("1.2.3", "1.2.3"),
        ("1.2.3+build.7", "1.2.3-build.7"),
        ("feature/x", "feature-x"),
        (".hidden", "hidden"),
        ("x" * 200, "x" * 128),
    ],
)
def test_tags_are_sanitised(rendered: str, tag: str) -> None:
    assert sanitize_tag(rendered) == tag


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.8.9.10", True),
        ("localhost:443", True),
        ("[::1]:5000", True),
        ("10.0.0.1:5000", False),
        ("registry.internal.test", False),
        ("localhost.example:1", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_severity_gate_order() -> None:
    assert at_or_above("Critical", "high") and at_or_above("High", "high")
    assert not at_or_above("Medium", "high") and not at_or_above("None", "low")
    assert at_or_above("Unknown", "low") is False and at_or_above("Low", "low")
    assert not at_or_above("Critical", "none")


def test_ecr_immutable_refusal_on_manifest_put_is_named() -> None:
    exc = RegistryError("push of manifest sha256:ab to x/y:1.2.3: HTTP 400: TAG_INVALID", 400)
    failed = translate(exc, "team/hello")
    assert failed is not None and "ImageTagAlreadyExistsException" in failed.message
    assert translate(RegistryError("HTTP 400: MANIFEST_INVALID", 400), "team/hello") is None


def test_demo_env_matches_the_example_config() -> None:
    from scripts import demo_env as demo

    text = (Path(__file__).parents[3] / "examples" / "hello" / "pyproject.toml").read_text()
    for name in (demo.REGISTRY, demo.USERNAME, demo.PASSWORD, demo.CA_FILE):
        assert f'{{ env = "{name}" }}' in text


@pytest.mark.slow
def test_registry_credentials_from_docker_config(
    cd_repo: Path,
    users_registry: UsersRegistry,
    gopipe_run: RunFn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reg = users_registry.registry
    assert reg.username and reg.password and reg.ca_cert
    docker_config = tmp_path / "docker"
    docker_config.mkdir()
    auth = base64.b64encode(f"{reg.username}:{reg.password}".encode()).decode()
    (docker_config / "config.json").write_text(json.dumps({"auths": {reg.host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config))
    set_tables(
        cd_repo,
        {"providers": ["oci-image"]},
        {
            "providers": ["registry"],
            "registry": {
                "registry": reg.host,
                "ca_file": str(reg.ca_cert),
                "repository": unique_repo("dockercfg"),
            },
        },
    )
    result = gopipe_run(cd_repo, "upload")
    out = capsys.readouterr().out
    assert result.exit_code == 0, out
    [ref] = artifacts(result, "image-ref")
    assert ref["extra"]["uploaded"] == 5


# -- one retry vocabulary for every network client -----------------------------------------------
NETWORK_CLIENTS = [
    *((Stage.NOTIFY, name) for name in ("slack", "wecom", "dingtalk", "feishu", "teams", "webhook", "email")),
    (Stage.NOTIFY, "pushgateway"),
    *((Stage.UPLOAD, name) for name in ("registry", "harbor", "ecr", "oci-artifact", "helm-chart")),
    *((Stage.PUBLISH, name) for name in ("github", "gitlab")),
]
# The keys each client requires, so its table validates as far as ``retry``.
REQUIRED = {
    **dict.fromkeys(("slack", "wecom", "dingtalk", "feishu", "teams"), 'webhook = { env = "HOOK_URL" }\n'),
    "webhook": 'url = { env = "HOOK_URL" }\n',
    "email": 'host = "smtp.example.com"\nsender = "ci@example.com"\nto = ["team@example.com"]\n',
    "pushgateway": 'url = "http://127.0.0.1:9091"\n',
}


def _select(root: Path, stage: Stage, provider: str, table: str) -> Any:
    """``provider``'s options as the real registry validates ``[tool.gopipe.<stage>.<provider>]``."""
    (root / "pyproject.toml").write_text(
        f'[tool.gopipe.{stage}]\nproviders = ["{provider}"]\n\n[tool.gopipe.{stage}.{provider}]\n{table}'
    )
    registry = ProviderRegistry.collect(create_manager((), entry_points=False))
    (selected,) = registry.select(load_config(root), stage)
    return selected.options


def test_every_network_client_shares_the_retry_vocabulary() -> None:
    registry = ProviderRegistry.collect(create_manager((), entry_points=False))
    expected = schema_for(RetryPolicy)
    for stage, name in NETWORK_CLIENTS:
        props = schema_for(registry.providers(stage)[name].provider.options)["properties"]
        assert props["retry"]["properties"] == expected["properties"], name
        assert set(expected["properties"]) == {"max_attempts", "budget", "base_delay", "max_delay", "jitter"}
        assert "retries" not in props and "backoff" not in props, name


@pytest.mark.parametrize(("stage", "name"), NETWORK_CLIENTS)
def test_retry_table_is_the_same_policy_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: Stage, name: str
) -> None:
    monkeypatch.chdir(tmp_path)  # config errors name pyproject.toml relative to the working directory
    required = REQUIRED.get(name, "")
    table = (
        required
        + "retry = { max_attempts = 2, budget = 3, base_delay = 0.25, max_delay = 1.5, jitter = 0 }\n"
    )
    options = _select(tmp_path, stage, name, table)
    assert options.retry == RetryPolicy(max_attempts=2, budget=3, base_delay=0.25, max_delay=1.5, jitter=0.0)
    with pytest.raises(ConfigError) as bad:
        _select(tmp_path, stage, name, required + "retry = { max_attempts = 0 }\n")
    assert str(bad.value) == (
        f"pyproject.toml: tool.gopipe.{stage}.{name}.retry.max_attempts: 0 is out of range "
        "(fix: set max_attempts to a number at least 1)"
    )
    with pytest.raises(ConfigError, match=r"retry\.jitter: 1\.5 is out of range .*between 0 and 1"):
        _select(tmp_path, stage, name, required + "retry = { jitter = 1.5 }\n")
    with pytest.raises(ConfigError, match=r"retry\.max_attempt: unknown key .* did you mean 'max_attempts'"):
        _select(tmp_path, stage, name, required + "retry = { max_attempt = 3 }\n")


@pytest.mark.parametrize("name", ["slack", "email", "pushgateway"])
def test_old_retry_keys_point_at_the_retry_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as retries:
        _select(tmp_path, Stage.NOTIFY, name, REQUIRED[name] + "retries = 3\n")
    assert str(retries.value) == (
        f"pyproject.toml: tool.gopipe.notify.{name}.retries: unknown key 'retries' (fix: did you mean "
        "'retry.max_attempts'? it counts the first attempt too: "
        "retries = N is retry = { max_attempts = N+1 })"
    )
    with pytest.raises(ConfigError) as backoff:
        _select(tmp_path, Stage.NOTIFY, name, REQUIRED[name] + "backoff = 0.5\n")
    assert str(backoff.value) == (
        f"pyproject.toml: tool.gopipe.notify.{name}.backoff: unknown key 'backoff' (fix: did you mean "
        "'retry.base_delay'? write retry = { base_delay = SECONDS })"
    )
