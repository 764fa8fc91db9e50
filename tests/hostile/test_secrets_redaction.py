"""The redactor against hostile text: secrets split into chunks, cut to a length limit,
encoded (base64, URL), or carried by token parameters; short and common-word values.

All in-process and fast: real ``Redactor``, real ``TestEvents`` fed with ``go test -json``
events shaped the way Go 1.2x emits them (long lines split into 1 KiB ``output`` events),
real reports through the real notification message builder.
"""

from __future__ import annotations

import base64
import json
import secrets as random_tokens
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest

import gopipe.secrets as gs
from gopipe.config import parse_options
from gopipe.config.options import doc
from gopipe.errors import ConfigError
from gopipe.git import UNKNOWN
from gopipe.report import ProviderResult, Report, StageResult
from gopipe.secrets import MASK, Redactor, Secret
from gopipe_plugins.notify.message import build_message
from gopipe_plugins.test import gotest

WINDOW = 8  # a run of this many characters of a secret counts as a leak


def token(prefix: str = "") -> str:
    return prefix + random_tokens.token_urlsafe(18)


def leaked(secret: str, text: str, window: int = WINDOW) -> list[str]:
    """Every run of ``window`` characters of ``secret`` that appears in ``text``."""
    return sorted({secret[i : i + window] for i in range(len(secret) - window + 1)} & _windows(text, window))


def _windows(text: str, window: int) -> set[str]:
    return {text[i : i + window] for i in range(len(text) - window + 1)}


def go_events(package: str, test: str, output: str) -> list[str]:
    """``go test -json`` lines for one failing test whose output is ``output``, split into
    1 KiB chunks the way test2json does."""
    events = [{"Action": "run", "Package": package, "Test": test}]
    for line in output.splitlines(keepends=True):
        for i in range(0, len(line), 1024):
            events.append(
                {"Action": "output", "Package": package, "Test": test, "Output": line[i : i + 1024]}
            )
    events.append({"Action": "fail", "Package": package, "Test": test, "Elapsed": 0.01})
    events.append({"Action": "fail", "Package": package, "Elapsed": 0.02})
    return [json.dumps(e) + "\n" for e in events]


# -- 1: reassemble, then mask, then cut ---------------------------------------------------------
def test_chunked_go_test_line_is_joined_before_masking() -> None:
    secret = token()
    redactor = Redactor()
    redactor.add(secret)
    line = "a" * 1020 + secret + "b" * 8000  # the secret crosses the first chunk boundary
    events = gotest.TestEvents(redactor)
    for raw in go_events("example.com/leak", "TestLeak", line + "\n    leak_test.go:9: boom\n"):
        events.feed(raw)
    events.finish()
    (test,) = events.tests()
    assert test.output[0] == "a" * 1020 + MASK + "b" * 8000  # one line again, masked
    assert test.output[1] == "    leak_test.go:9: boom"
    xml = gotest.junit_xml(events)
    assert leaked(secret, xml) == [] and leaked(secret, "\n".join(test.output)) == []


def test_junit_failure_message_is_cut_after_masking() -> None:
    """The JUnit ``message`` attribute is cut to 500 characters; the secret sits across the cut."""
    secret = token()
    redactor = Redactor()
    redactor.add(secret)
    prefix = "    leak_test.go:12: "
    line = prefix + "x" * (495 - len(prefix)) + secret
    events = gotest.TestEvents(redactor)
    for raw in go_events("example.com/leak", "TestCut", line + "\n"):
        events.feed(raw)
    events.finish()
    xml = gotest.junit_xml(events)
    assert 'message="leak_test.go:12: xxx' in xml
    assert leaked(secret, xml, window=4) == []


def test_redactor_clip_never_leaves_part_of_a_secret() -> None:
    secret = token()
    redactor = Redactor()
    redactor.add(secret)
    text = "error: " + "y" * 40 + secret + "z" * 40
    for limit in range(10, len(text)):
        for tail in (False, True):
            cut = redactor.clip(text, limit, tail=tail)
            assert len(cut) <= limit
            assert leaked(secret, cut, window=3) == [], (limit, tail, cut)


def test_clip_without_redactor_drops_the_word_it_would_split() -> None:
    """Where no redactor is at hand the cut drops the split word, so the sink's redactor
    later sees either the whole token (and masks it) or none of it."""
    secret = "https://ci:" + token() + "@git.example.com/org/repo.git"
    text = f"fatal: could not read from {secret} (exit 128) while fetching"
    redactor = Redactor()  # knows no values: only the URL shape tells it
    for limit in range(12, len(text)):
        for tail in (False, True):
            cut = gs.clip(text, limit, tail=tail)
            assert len(cut) <= limit
            masked = redactor(cut)
            assert leaked(secret.split(":")[2].split("@")[0], masked, window=4) == [], (limit, tail, cut)


def test_notification_reason_is_masked_before_it_is_cut() -> None:
    secret = token()
    redactor = Redactor()
    redactor.add(secret)
    error = "go vet failed: " + "v" * (290 - len("go vet failed: ")) + secret + " " + "t" * 50
    details = "\n".join(["w" * 290 + secret, "ok"])
    report = Report(
        pipeline="ci",
        status="failed",
        started_at=0.0,
        duration_s=1.0,
        git=UNKNOWN,
        stages=[
            StageResult(
                "lint",
                "failed",
                1.0,
                [ProviderResult("go vet", "failed", 1.0, error=error, details=details)],
                error=error,
            )
        ],
        artifacts=[],
        exit_code=1,
    )
    message = build_message(report, "failure", project="p", redactor=redactor)
    shown = json.dumps(message.to_json())
    assert message.reason.startswith("go vet failed: vvv") and message.reason.endswith("…")
    assert leaked(secret, shown, window=4) == []


# -- 2: short secrets, common words ----------------------------------------------------------------
@dataclass(frozen=True)
class HookOptions:
    webhook: Secret = doc("hook")


def test_short_secret_from_env_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SIGNING", "test")
    with pytest.raises(ConfigError) as err:
        parse_options(
            HookOptions,
            {"webhook": {"env": "HOOK_SIGNING"}},
            file="pyproject.toml",
            key="tool.gopipe.notify.hook",
            redactor=Redactor(),
        )
    text = str(err.value)
    assert "tool.gopipe.notify.hook.webhook" in text and "environment variable HOOK_SIGNING" in text
    assert "shorter than 6 characters" in text and "test" not in text.replace("HOOK_SIGNING", "")


def test_short_secret_from_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "hook.txt").write_text("abc12\n")
    with pytest.raises(ConfigError, match=r"tool\.gopipe\.notify\.hook\.webhook: secret from file hook\.txt"):
        parse_options(
            HookOptions,
            {"webhook": {"file": "hook.txt"}},
            file="pyproject.toml",
            key="tool.gopipe.notify.hook",
            base=tmp_path,
            redactor=Redactor(),
        )


def test_short_secret_that_appears_later_is_refused_at_reveal(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = Secret(env="LATE_SIGNING", redactor=Redactor())
    monkeypatch.setenv("LATE_SIGNING", "pass")
    with pytest.raises(LookupError, match="LATE_SIGNING is shorter than 6 characters"):
        secret.reveal()


def test_environment_guesses_skip_short_values_and_setting_words() -> None:
    real = token()
    redactor = Redactor()
    redactor.add_from_environ(
        {
            "API_TOKEN": real,
            "GITHUB_TOKEN_PERMISSIONS": "read",
            "SECRET_SCANNING": "enabled",
            "DB_PASSWORD": "test",
            "TOKEN_TTL_SECONDS": "86400",
            "GOOGLE_APPLICATION_CREDENTIALS": "/home/ci/gcloud.json",
        }
    )
    text = f"read enabled test 86400 /home/ci/gcloud.json testing {real}"
    assert redactor(text) == f"read enabled test 86400 /home/ci/gcloud.json testing {MASK}"


# -- 3: encodings ---------------------------------------------------------------------------------
SPECIAL = "p@ss+w/rd=" + "Qx7~" + "k3y?&#%z"


def _b64(data: str, urlsafe: bool = False) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(data.encode()).decode()


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(lambda s: s, id="raw"),
        pytest.param(lambda s: urllib.parse.quote(s, safe=""), id="percent"),
        pytest.param(urllib.parse.quote, id="percent-keep-slash"),
        pytest.param(urllib.parse.quote_plus, id="form-encoded"),
        pytest.param(_b64, id="base64"),
        pytest.param(lambda s: _b64(s).rstrip("="), id="base64-unpadded"),
        pytest.param(lambda s: _b64(s, urlsafe=True), id="base64-urlsafe"),
        pytest.param(lambda s: _b64("ci:" + s), id="basic-auth-offset-0"),
        pytest.param(lambda s: _b64("bot:" + s), id="basic-auth-offset-1"),
        pytest.param(lambda s: _b64("robot$acme+push:" + s), id="basic-auth-offset-2"),
        pytest.param(lambda s: _b64(json.dumps({"auths": {"r": {"password": s}}})), id="docker-config"),
    ],
)
def test_encoded_forms_are_masked(form: object) -> None:
    redactor = Redactor()
    redactor.add(SPECIAL)
    encoded = form(SPECIAL)  # type: ignore[operator]
    masked = redactor(f"value: {encoded} end")
    assert MASK in masked
    # what survives is at most the neighbours' characters, never a run of the secret's own
    for shown in (SPECIAL, urllib.parse.quote(SPECIAL, safe=""), _b64(SPECIAL), _b64(SPECIAL, True)):
        assert leaked(shown, masked, window=4) == [], masked


# -- 4: token parameters ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "template",
    [
        "GET /oauth?access_token={v}&page=2",
        "POST https://qyapi.example.com/cgi-bin/webhook/send?key={v}",
        "https://oapi.example.com/robot/send?token={v}&timestamp=1",
        "https://logic.example.com/workflows/1/triggers?api-version=1&sig={v}",
        "https://bucket.example.com/o?X-Amz-Algorithm=AWS4&X-Amz-Signature={v}",
        "https://bucket.example.com/o?X-Amz-Credential={v}&X-Amz-Date=20260101",
        "curl -d client_secret={v} -d grant_type=client_credentials",
        "mysql --password={v} -h db",
        "https://gitlab.example.com/api/v4/projects?private_token={v}",
        "https://oapi.example.com/robot/send?access_token=t&timestamp=1&sign={v}",
        "?signature={v}",
        '{{"client_secret": "{v}", "client_id": "gopipe"}}',
        "Authorization: Bearer {v}",
        "PRIVATE-TOKEN: {v}",
    ],
)
def test_token_parameter_values_are_masked(template: str) -> None:
    value = token()  # never registered: only the parameter name gives it away
    masked = Redactor()(template.format(v=value))
    assert value not in masked and MASK in masked


def test_common_words_are_not_masked_as_token_parameters() -> None:
    text = "monkey=banana keyboard=us key=value token_count=3 signed=true go test -run=TestKey"
    assert Redactor()(text) == text
