"""Leak test: no secret value appears in anything gopipe writes or sends.

Two real ``gopipe run ci`` runs of examples/hello (as a subprocess, so every byte of stdout
and stderr is captured) fail in every CI stage: an unformatted file and a self-assignment
(lint), a test that prints the whole environment and a secret file before failing (test),
coverage below a 99% threshold (coverage, second run, when the tests pass), and a
windows-only file that does not compile (build). Secrets come from the environment (names
that look secret) and from config references (``{ env = … }`` with neutral names, and
``{ file = … }``), one with characters that JSON, XML and URLs escape. Every notifier is
configured against a local receiver that plays its service (``services.py``), email goes
to the real SMTP fixture.

Searched: stdout, stderr, every file under dist/gopipe after each run, every request body,
URL and header received, every email. Each secret is looked for raw and in its URL-, JSON-
and XML-escaped forms. The only allowed appearances are a receiver's own credential where
the service requires it: the token in its webhook URL and the pushgateway's Authorization
header.
"""

from __future__ import annotations

import html
import json
import os
import secrets
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.harness.smtp import SmtpServer
from tests.plugins.notify.receiver import Receiver, Reply, Request, Service
from tests.plugins.notify.services import Dingtalk, Feishu, Slack, Teams, Webhook, Wecom

from gopipe.gotools import cache_root

pytestmark = pytest.mark.slow

UGLY_GO = "package greet\nfunc  Ugly( ) int {return 1}\n"
VET_GO = """package greet

// SelfAssign exists so that go vet reports a self-assignment.
func SelfAssign(x int) int {
	x = x
	return x
}
"""
BROKEN_WINDOWS_GO = """//go:build windows

package greet

var broken int = "not an int"
"""
LEAK_TEST_GO = """package greet

import (
	"os"
	"sort"
	"testing"
)

func TestPrintsSecrets(t *testing.T) {
	env := os.Environ()
	sort.Strings(env)
	for _, kv := range env {
		t.Log(kv)
	}
	data, err := os.ReadFile("../../secrets/feishu-signing.txt")
	t.Logf("file secret: %s %v", data, err)
	if os.Getenv("LEAK_FAIL") == "1" {
		t.Fatalf("forced failure with API_TOKEN=%s MAIL_PASS=%s",
			os.Getenv("API_TOKEN"), os.Getenv("MAIL_PASS"))
	}
}
"""

CONFIG = """
[tool.gopipe.notify]
providers = ["slack", "wecom", "dingtalk", "feishu", "teams", "webhook", "email", "pushgateway"]

[tool.gopipe.notify.slack]
webhook = {{ env = "SLACK_URL" }}
mentions = ["<!here>"]
retry.base_delay = 0.01

[tool.gopipe.notify.wecom]
webhook = {{ env = "WECOM_URL" }}
mentioned_mobile_list = ["13800001111"]
retry.base_delay = 0.01

[tool.gopipe.notify.dingtalk]
webhook = {{ env = "DINGTALK_URL" }}
secret = {{ env = "DINGTALK_SIGNING" }}
at_mobiles = ["13800001111"]
retry.base_delay = 0.01

[tool.gopipe.notify.feishu]
webhook = {{ env = "FEISHU_URL" }}
secret = {{ file = "secrets/feishu-signing.txt" }}
retry.base_delay = 0.01

[tool.gopipe.notify.teams]
webhook = {{ env = "TEAMS_URL" }}
retry.base_delay = 0.01

[tool.gopipe.notify.webhook]
url = {{ env = "RELAY_URL" }}
secret = {{ env = "RELAY_HMAC" }}
retry.base_delay = 0.01

[tool.gopipe.notify.email]
host = "{smtp_host}"
port = {smtp_port}
username = "{smtp_user}"
password = {{ env = "MAIL_PASS" }}
ca_file = "{smtp_ca}"
sender = "ci@example.com"
to = ["team@example.com"]
retry.base_delay = 0.01

[tool.gopipe.notify.pushgateway]
url = "{gateway}"
username = "ci"
password = {{ env = "GATEWAY_PASS" }}
retry.base_delay = 0.01
"""


def token(name: str) -> str:
    return f"{name}-{secrets.token_hex(10)}"


@dataclass
class Setup:
    env: dict[str, str]
    secrets: dict[str, str]  # label → value to look for
    receivers: dict[str, tuple[Receiver, str]]  # name → (receiver, its own credential in URLs)


@pytest.fixture
def setup(
    hello_repo: Path, receiver: Callable[[Service], Receiver], smtp_server: SmtpServer, tmp_path: Path
) -> Iterator[Setup]:
    greet = hello_repo / "internal" / "greet"
    (greet / "ugly.go").write_text(UGLY_GO)
    (greet / "vet.go").write_text(VET_GO)
    (greet / "broken_windows.go").write_text(BROKEN_WINDOWS_GO)
    (greet / "leak_test.go").write_text(LEAK_TEST_GO)

    slack_token, wecom_key, ding_token, feishu_token, teams_sig, relay_token = (
        token(n) for n in ("slacktok", "wecomkey", "dingtok", "feishutok", "teamssig", "relaytok")
    )
    ding_secret, feishu_secret, relay_hmac, gateway_pass = (
        token(n) for n in ("SECding", "feishusign", "relayhmac", "gatewaypass")
    )
    (hello_repo / "secrets").mkdir()
    (hello_repo / "secrets" / "feishu-signing.txt").write_text(feishu_secret + "\n")

    slack = Slack(path=f"/services/T0LEAK/B0LEAK/{slack_token}")
    services: dict[str, tuple[Service, str]] = {
        "slack": (slack, slack_token),
        "wecom": (Wecom(key=wecom_key), wecom_key),
        "dingtalk": (Dingtalk(token=ding_token, secret=ding_secret), ding_token),
        "feishu": (Feishu(token=feishu_token, secret=feishu_secret), feishu_token),
        "teams": (Teams(sig=teams_sig), teams_sig),
        "webhook": (Webhook(secret=relay_hmac), relay_token),
    }
    started = {name: (receiver(svc), own) for name, (svc, own) in services.items()}

    def gateway(request: Request) -> Reply:
        return Reply.json({"status": "success", "data": []}) if request.method == "GET" else Reply(200)

    started["pushgateway"] = (receiver(gateway), "")
    base = {name: r.base for name, (r, _) in started.items()}
    urls = {
        "SLACK_URL": base["slack"] + slack.path,
        "WECOM_URL": f"{base['wecom']}/cgi-bin/webhook/send?key={wecom_key}",
        "DINGTALK_URL": f"{base['dingtalk']}/robot/send?access_token={ding_token}",
        "FEISHU_URL": f"{base['feishu']}/open-apis/bot/v2/hook/{feishu_token}",
        "TEAMS_URL": f"{base['teams']}/workflows/w1/triggers/manual/paths/invoke"
        f"?api-version=1&sig={teams_sig}",
        "RELAY_URL": f"{base['webhook']}/hook?token={relay_token}",
    }
    mail_pass = smtp_server.password + "&<'\">"  # escapes differently in JSON, XML and URLs
    # The SMTP fixture checks its own password: give it the one gopipe will send.
    smtp_server.password = mail_pass
    by_reference = {
        **urls,
        "DINGTALK_SIGNING": ding_secret,
        "RELAY_HMAC": relay_hmac,
        "MAIL_PASS": mail_pass,
        "GATEWAY_PASS": gateway_pass,
    }
    by_name = {
        "API_TOKEN": token("apitoken"),
        "DB_PASSWORD": token("dbpass"),
        "AWS_SECRET_ACCESS_KEY": token("awssecret"),
    }

    pyproject = hello_repo / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text()
        + CONFIG.format(
            smtp_host=smtp_server.host,
            smtp_port=smtp_server.port,
            smtp_user=smtp_server.username,
            smtp_ca=smtp_server.ca_cert,
            gateway=base["pushgateway"],
        )
    )

    cache = tmp_path / "gopipe-cache"
    cache.mkdir()
    (cache_root() / "tools").mkdir(parents=True, exist_ok=True)
    (cache / "tools").symlink_to(cache_root() / "tools")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GOPIPE_"))}
    env.update(by_reference, **by_name, GOPIPE_CACHE=str(cache), LEAK_FAIL="1")
    found = {**by_reference, **by_name, "feishu signing file": feishu_secret}
    for name, value in urls.items():  # the credential inside each URL, on its own
        found[f"{name} token"] = value.rsplit("=", 1)[-1] if "=" in value else value.rsplit("/", 1)[-1]
    yield Setup(env, found, started)


def forms(value: str) -> set[str]:
    """The value as it would appear raw, URL-encoded, JSON-escaped or XML-escaped."""
    return {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        html.escape(value),
        html.escape(value, quote=False),
    }


def run_gopipe(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "gopipe.cli", "run", "ci", "-C", str(repo), "--plain"],
        env=env,
        capture_output=True,
        timeout=600,
        check=False,
    )


def written(repo: Path) -> dict[str, bytes]:
    out = repo / "dist" / "gopipe"
    return {str(p.relative_to(repo)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_no_secret_leaks(hello_repo: Path, setup: Setup, smtp_server: SmtpServer) -> None:
    outputs: dict[str, bytes] = {}
    reports = []
    for n, (fail_tests, threshold) in enumerate(((True, "40"), (False, "99"))):
        pyproject = hello_repo / "pyproject.toml"
        text = pyproject.read_text()
        pyproject.write_text(text.replace(f"total = {'40' if n else '99'}\n", f"total = {threshold}\n", 1))
        env = {**setup.env, "LEAK_FAIL": "1" if fail_tests else "0"}
        proc = run_gopipe(hello_repo, env)
        outputs[f"run {n} stdout"] = proc.stdout
        outputs[f"run {n} stderr"] = proc.stderr
        for name, data in written(hello_repo).items():
            outputs[f"run {n} {name}"] = data
        reports.append(json.loads((hello_repo / "dist" / "gopipe" / "report.json").read_text()))

    # The runs failed where they should, and every notifier delivered: the test proves something.
    first, second = ({s["name"]: s for s in r["stages"]} for r in reports)
    assert [first[s]["status"] for s in ("lint", "test", "coverage", "build")] == [
        "failed",
        "failed",
        "skipped",
        "failed",
    ]
    assert [second[s]["status"] for s in ("lint", "test", "coverage", "build")] == [
        "failed",
        "success",
        "failed",
        "failed",
    ]
    assert "windows/amd64" in str(first["build"]["error"]) or "windows" in str(first["build"])
    assert "below the threshold 99%" in str(second["coverage"]["error"])
    for r in reports:
        notify = {p["name"]: p for p in r["stages"][-1]["providers"]}
        assert all(p["status"] == "success" for p in notify.values()), notify
    test_details = first["test"]["providers"][0]["details"]
    assert "API_TOKEN=***" in test_details and "forced failure with API_TOKEN=***" in test_details

    for name, (r, own) in setup.receivers.items():
        assert len(r.requests) >= 2, name
        for i, request in enumerate(r.requests):
            url = request.raw_url.replace(own, "<own credential>") if own else request.raw_url
            headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
            outputs[f"{name} request {i} url"] = url.encode()
            outputs[f"{name} request {i} headers"] = json.dumps(headers).encode()
            outputs[f"{name} request {i} body"] = request.body
    for i, message in enumerate(smtp_server.wait_for(2)):
        outputs[f"email {i}"] = message.raw

    leaks = [
        f"{label} found in {where}"
        for label, value in setup.secrets.items()
        for where, data in outputs.items()
        if any(form.encode() in data for form in forms(value))
    ]
    assert leaks == [], "\n".join(leaks)
    # And the search is not vacuous: the test output really contained the secrets.
    assert len(outputs) > 40
