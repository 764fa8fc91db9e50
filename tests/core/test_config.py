"""Config validation: typed options and stage settings, did-you-mean, secrets by reference, zero-config."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pluggy
import pytest

from gopipe.cli import main
from gopipe.config import Config, NoSettings, NotifySettings, doc, load_config, parse_options
from gopipe.context import ProviderContext
from gopipe.errors import ConfigError, PluginError, StageFailed
from gopipe.hookspecs import hookimpl
from gopipe.manager import create_manager
from gopipe.registry import ProviderRegistry
from gopipe.schema import config_schema
from gopipe.secrets import Redactor, Secret
from gopipe.stages import DEFAULT_PROVIDERS, Stage
from gopipe.testing import run_stage
from gopipe.types import Linter, Notifier, StageSettings


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
    assert schema["properties"]["notify"]["properties"]["fail_on_error"] == {
        "type": "boolean",
        "description": "a failed notifier fails an otherwise green run",
        "default": False,
    }


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


# -- stage settings ---------------------------------------------------------------------------
def test_stage_settings_are_typed_objects(tmp_path: Path) -> None:
    raw = load_config(tmp_path)
    with pytest.raises(RuntimeError, match="not validated yet"):
        raw.stage(Stage.NOTIFY).settings  # noqa: B018 - the property is what is tested
    config = registry().validate(raw)
    assert config.stage(Stage.NOTIFY).settings == NotifySettings(fail_on_error=False)
    assert config.stage(Stage.LINT).settings == NoSettings()

    write(
        tmp_path,
        "[tool.gopipe.notify]\nfail_on_error = true\n[tool.gopipe.notify.slack]\nretry.max_attempts = 2\n",
    )
    notify = registry().validate(load_config(tmp_path)).stage(Stage.NOTIFY)
    assert notify.settings.fail_on_error is True
    assert dict(notify.tables) == {"slack": {"retry": {"max_attempts": 2}}}


def test_fail_on_error_string_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path, '[tool.gopipe.notify]\nfail_on_error = "false"\n')
    with pytest.raises(ConfigError) as err:
        registry().validate(load_config(tmp_path))
    assert err.value.key == "tool.gopipe.notify.fail_on_error"
    assert "expected boolean, got str 'false'" in str(err.value)


def test_cli_fail_on_error_string_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOPIPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    repo = write(tmp_path, '[tool.gopipe.notify]\nfail_on_error = "false"\n')
    assert main(["run", "lint", "-C", str(repo), "--plain"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "error: pyproject.toml: tool.gopipe.notify.fail_on_error: expected boolean, got str 'false' "
        "(fix: set fail_on_error to a boolean)"
    ]
    report = json.loads((repo / "dist" / "gopipe" / "report.json").read_text())
    assert report["exit_code"] == 2 and "tool.gopipe.notify.fail_on_error" in report["error"]


def test_unknown_stage_key_names_providers_stage_keys_and_settings(tmp_path: Path) -> None:
    write(tmp_path, "[tool.gopipe.notify]\nfail_on_eror = true\n")
    with pytest.raises(
        ConfigError, match=r"notify.fail_on_eror: unknown key .*did you mean 'fail_on_error'\?"
    ):
        registry().validate(load_config(tmp_path))

    write(tmp_path, "[tool.gopipe.notify]\nbogus = 1\n")
    with pytest.raises(ConfigError) as err:
        registry().validate(load_config(tmp_path))
    assert err.value.key == "tool.gopipe.notify.bogus"
    allowed = err.value.fix.removeprefix("allowed keys: ").split(", ")
    assert {"providers", "timeout", "fail_on_error", "slack", "webhook"} <= set(allowed)


def test_provider_key_must_be_a_table(tmp_path: Path) -> None:
    write(tmp_path, "[tool.gopipe.lint]\ngofmt = true\n")
    with pytest.raises(
        ConfigError, match=r"lint.gofmt: expected a table of gofmt options.*write \[tool.gopipe.lint.gofmt\]"
    ):
        registry().validate(load_config(tmp_path))


def test_table_of_an_uninstalled_provider_is_kept(tmp_path: Path) -> None:
    write(tmp_path, '[tool.gopipe.lint.revive]\nconfig = "revive.toml"\n')
    config = registry().validate(load_config(tmp_path))
    assert dict(config.stage(Stage.LINT).tables) == {"revive": {"config": "revive.toml"}}


@dataclass(frozen=True)
class _FlakySettings:
    """Stage-level keys of a third-party test plugin."""

    retries: int = doc("times a failed package is re-run", 0)
    token: Secret | None = doc("flaky-test service token", None)


def _at_most_five(config: Config, settings: _FlakySettings) -> None:
    if settings.retries > 5:
        raise ConfigError(
            config.display_file, "tool.gopipe.test.retries", "at most 5 retries", "set retries = 5"
        )


class _Flaky:
    @hookimpl
    def gopipe_stage_settings(self) -> list[StageSettings]:
        return [StageSettings(stage=Stage.TEST, options=_FlakySettings, check=_at_most_five)]


def _manager(*plugins: object) -> pluggy.PluginManager:
    pm = create_manager(entry_points=False)
    for i, plugin in enumerate(plugins):
        pm.register(plugin, name=f"third-party-{i}")
    return pm


def test_plugin_declared_settings_validate_like_provider_options(tmp_path: Path) -> None:
    reg = ProviderRegistry.collect(_manager(_Flaky()))
    write(tmp_path, '[tool.gopipe.test]\nretries = 2\ntoken = { env = "FLAKY_TOKEN" }\n')
    settings = reg.validate(load_config(tmp_path)).stage(Stage.TEST).settings
    assert isinstance(settings, _FlakySettings) and settings.retries == 2
    assert isinstance(settings.token, Secret)

    for text, message in [
        ('retries = "2"', "test.retries: expected integer"),
        ('token = "tok-0123456789abcdef"', "test.token: plaintext secret in config"),
        ("retries = 9", "test.retries: at most 5 retries"),
        ("retires = 1", "test.retires: unknown key 'retires' (fix: did you mean 'retries'?)"),
    ]:
        write(tmp_path, f"[tool.gopipe.test]\n{text}\n")
        with pytest.raises(ConfigError, match=re.escape(message)):
            reg.validate(load_config(tmp_path))
    test = config_schema(reg)["properties"]["test"]["properties"]
    assert test["retries"] == {
        "type": "integer",
        "description": "times a failed package is re-run",
        "default": 0,
    }


def test_stage_settings_declared_twice_or_clashing_are_plugin_errors() -> None:
    class _Notify:
        @hookimpl
        def gopipe_stage_settings(self) -> list[StageSettings]:
            return [StageSettings(stage=Stage.NOTIFY, options=_FlakySettings)]

    with pytest.raises(
        PluginError, match="settings of stage 'notify' are already declared by gopipe \\(core\\)"
    ):
        ProviderRegistry.collect(_manager(_Notify()))
    with pytest.raises(
        PluginError, match="settings of stage 'test' are already declared by plugin 'third-party-0'"
    ):
        ProviderRegistry.collect(_manager(_Flaky(), _Flaky()))

    class _Retries:
        @hookimpl
        def gopipe_linters(self) -> list[Linter]:
            return [Linter(name="retries", run=lambda ctx: None)]

        @hookimpl
        def gopipe_stage_settings(self) -> list[StageSettings]:
            return [StageSettings(stage=Stage.LINT, options=_FlakySettings)]

    with pytest.raises(PluginError, match="reuse the key\\(s\\) retries"):
        ProviderRegistry.collect(_manager(_Retries()))


def _undelivered(ctx: ProviderContext[object]) -> None:
    raise StageFailed("boom: not delivered")


class _Boom:
    @hookimpl
    def gopipe_notifiers(self) -> list[Notifier]:
        return [Notifier(name="boom", run=_undelivered)]


@pytest.mark.parametrize(("fail_on_error", "exit_code"), [(False, 0), (True, 1)])
def test_fail_on_error_decides_whether_a_failed_notifier_fails_the_run(
    tmp_path: Path, fail_on_error: bool, exit_code: int
) -> None:
    notify = {"providers": ["boom"], "fail_on_error": fail_on_error}
    result = run_stage(tmp_path, "notify", config={"notify": notify}, pm=_manager(_Boom()))
    assert result.stage("notify").status == "failed"
    assert result.exit_code == exit_code
    assert result.report.status == ("failed" if fail_on_error else "success")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("bad_table", "notified"),
    [('[tool.gopipe.deploy]\nallowed_refs = "main"\n', True), ('fail_on_error = "no"\n', False)],
)
def test_notifiers_report_a_bad_stage_table_unless_it_is_their_own(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    bad_table: str,
    notified: bool,
) -> None:
    monkeypatch.setenv("GOPIPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GOPIPE_TEST_HOOK", f"http://127.0.0.1:{_closed_port()}/hook")
    monkeypatch.chdir(tmp_path)
    notify = (
        '[tool.gopipe.notify]\nproviders = ["webhook"]\n'
        + (bad_table if not notified else "")
        + '[tool.gopipe.notify.webhook]\nurl = { env = "GOPIPE_TEST_HOOK" }\nretry.max_attempts = 1\n'
    )
    repo = write(tmp_path, notify + (bad_table if notified else ""))
    assert main(["run", "lint", "-C", str(repo), "--plain"]) == 2
    assert "error: pyproject.toml: tool.gopipe." in capsys.readouterr().err
    report = json.loads((repo / "dist" / "gopipe" / "report.json").read_text())
    assert report["exit_code"] == 2
    stages = {s["name"]: s for s in report["stages"]}
    if notified:  # the webhook was tried (nothing listens), so notify ran despite the deploy table
        assert stages["notify"]["providers"][0]["name"] == "webhook"
        assert stages["notify"]["status"] == "failed"
    else:
        assert "notify" not in stages
