"""Config validation: typed options, did-you-mean, secrets by reference, zero-config."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gopipe.config import doc, load_config, parse_options
from gopipe.errors import ConfigError
from gopipe.manager import create_manager
from gopipe.registry import ProviderRegistry
from gopipe.schema import config_schema
from gopipe.secrets import Redactor, Secret
from gopipe.stages import DEFAULT_PROVIDERS, Stage


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(text)
    return tmp_path


def registry() -> ProviderRegistry:
    return ProviderRegistry.collect(create_manager(entry_points=False))


def test_zero_config_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert not config.present
    assert config.settings.targets == ("linux/amd64", "linux/arm64", "darwin/arm64", "windows/amd64")
    assert config.stage("lint").providers == DEFAULT_PROVIDERS[Stage.LINT]
    assert config.out == tmp_path.resolve() / "dist" / "gopipe"
    # every default provider of the CI stages exists
    reg = registry()
    for stage in (Stage.LINT, Stage.TEST, Stage.COVERAGE, Stage.BUILD):
        assert [s.name for s in reg.select(config, stage)] == list(DEFAULT_PROVIDERS[stage])


def test_top_level_typo_suggests_the_key(tmp_path: Path) -> None:
    write(tmp_path, '[tool.gopipe]\ntargts = ["linux/amd64"]\n')
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    assert err.value.key == "tool.gopipe.targts"
    assert "did you mean 'targets'?" in str(err.value)
    assert "pyproject.toml" in str(err.value)


def test_provider_option_typo_and_wrong_type(tmp_path: Path) -> None:
    write(tmp_path, "[tool.gopipe.coverage.threshold]\ntotl = 80\n")
    config = load_config(tmp_path)
    with pytest.raises(
        ConfigError,
        match=r"tool.gopipe.coverage.threshold.totl: unknown key 'totl' "
        r"\(fix: did you mean 'total'\?\)",
    ):
        registry().select(config, Stage.COVERAGE)

    write(tmp_path, '[tool.gopipe.coverage.threshold]\ntotal = "eighty"\n')
    with pytest.raises(ConfigError, match="expected number"):
        registry().select(load_config(tmp_path), Stage.COVERAGE)


def test_only_selected_providers_are_validated_strictly(tmp_path: Path) -> None:
    write(tmp_path, '[tool.gopipe.lint]\nproviders = ["gofmt"]\n[tool.gopipe.lint.staticcheck]\nbogus = 1\n')
    selected = registry().select(load_config(tmp_path), Stage.LINT)
    assert [s.name for s in selected] == ["gofmt"]


def test_misspelt_provider_table_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "[tool.gopipe.coverage.treshold]\ntotal = 80\n")
    with pytest.raises(ConfigError, match="did you mean 'threshold'"):
        registry().select(load_config(tmp_path), Stage.COVERAGE)


def test_unknown_provider_names_the_choices(tmp_path: Path) -> None:
    write(tmp_path, '[tool.gopipe.lint]\nproviders = ["gofmt", "staticchek"]\n')
    with pytest.raises(ConfigError) as err:
        registry().select(load_config(tmp_path), Stage.LINT)
    text = str(err.value)
    assert "provider 'staticchek' for stage 'lint' is not available (plugin may not be installed)" in text
    assert "choose one of: gofmt, golangci-lint, govet, govulncheck, staticcheck" in text
    assert "did you mean 'staticcheck'?" in text


@dataclass(frozen=True)
class _BotOptions:
    webhook: Secret = doc("incoming webhook URL")
    channel: str = doc("channel", "#ci")


def test_secrets_only_by_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="plaintext secret"):
        parse_options(_BotOptions, {"webhook": "https://example.invalid/hook"}, file="p", key="k")
    with pytest.raises(ConfigError, match="looks like a plaintext secret"):
        parse_options(
            _BotOptions,
            {"webhook": {"env": "X"}, "channel": "https://qyapi.example/send?key=0123456789abcdef"},
            file="p",
            key="k",
        )
    redactor = Redactor()
    opts = parse_options(_BotOptions, {"webhook": {"env": "BOT_HOOK"}}, file="p", key="k", redactor=redactor)
    monkeypatch.setenv("BOT_HOOK", "https://hooks.example/T000/very-secret-value")
    assert "very-secret" not in repr(opts) and "very-secret" not in str(opts.webhook)
    assert opts.webhook.reveal().endswith("very-secret-value")
    assert redactor("posting to https://hooks.example/T000/very-secret-value") == "posting to ***"
    (tmp_path / "token").write_text("file-secret-1234\n")
    from_file = parse_options(_BotOptions, {"webhook": {"file": "token"}}, file="p", key="k", base=tmp_path)
    assert from_file.webhook.reveal() == "file-secret-1234"
    with pytest.raises(ConfigError, match="missing"):
        parse_options(_BotOptions, {}, file="p", key="k")


def test_schema_covers_plugin_tables() -> None:
    schema = config_schema(registry())
    lint = schema["properties"]["lint"]["properties"]
    assert set(lint["providers"]["items"]["enum"]) >= {"gofmt", "govet", "staticcheck"}
    assert lint["staticcheck"]["properties"]["version"]["type"] == "string"
    threshold = schema["properties"]["coverage"]["properties"]["threshold"]
    assert threshold["properties"]["total"] == {
        "type": "number",
        "description": "minimum total coverage",
        "minimum": 0,
        "maximum": 100,
        "default": 0.0,
    }
    assert schema["properties"]["targets"]["type"] == "array"
    deploy = schema["properties"]["deploy"]["properties"]
    environment = deploy["environments"]["additionalProperties"]
    assert {"namespace", "provider", "allowed_refs"} <= set(environment["properties"])
    assert deploy["allowed_refs"]["type"] == "array"


def test_cli_config_error_is_one_line_exit_2_and_report_written(tmp_path: Path) -> None:
    repo = write(tmp_path, '[tool.gopipe.lint]\nprovider = ["gofmt"]\n')
    (repo / "go.mod").write_text("module example.com/x\n\ngo 1.24\n")
    proc = subprocess.run(
        [sys.executable, "-m", "gopipe.cli", "run", "ci", "--plain"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert errors == [
        "error: pyproject.toml: tool.gopipe.lint.provider: unknown key 'provider' "
        "(fix: did you mean 'providers'?)"
    ], proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    report = json.loads((repo / "dist" / "gopipe" / "report.json").read_text())
    assert report["status"] == "failed" and report["exit_code"] == 2
    assert "did you mean 'providers'" in report["error"]


def test_cli_invalid_toml_exit_2(tmp_path: Path) -> None:
    repo = write(tmp_path, "[tool.gopipe\n")
    proc = subprocess.run(
        [sys.executable, "-m", "gopipe.cli", "run", "ci", "-C", str(repo), "--plain"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "invalid TOML" in proc.stderr and "Traceback" not in proc.stderr
    assert json.loads((repo / "dist" / "gopipe" / "report.json").read_text())["exit_code"] == 2
