"""End to end: ``gopipe run ci`` on a copy of examples/hello with Slack, WeCom and the
Pushgateway configured (env pointing at local receivers and a real gateway).

The Slack and WeCom receivers play the documented services (``services.py``): Slack
answers ``ok``/``invalid_payload``/429, WeCom answers errcodes on HTTP 200 (45009 when
rate-limited). The runs: success, a forced test failure, the fix ("fixed"), and a run where
receivers misbehave (500s, rate limits, one receiver down) that must still deliver the rest
and write the report.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.harness.procs import free_port
from tests.harness.pushgateway import Pushgateway
from tests.plugins.notify.receiver import Receiver, Reply, Service
from tests.plugins.notify.services import Slack, Wecom

from gopipe.gotools import cache_root
from gopipe.testing import RunResult

pytestmark = pytest.mark.slow

NOTIFY = """
[tool.gopipe.notify]
providers = ["slack", "wecom", "pushgateway"]

[tool.gopipe.notify.slack]
webhook = {{ env = "SLACK_WEBHOOK_URL" }}
retry.base_delay = 0.05

[tool.gopipe.notify.wecom]
webhook = {{ env = "WECOM_WEBHOOK_URL" }}
mentioned_list = ["@all"]
locale = "zh-CN"
retry.base_delay = 0.05

[tool.gopipe.notify.pushgateway]
url = "{gateway}"
"""


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh gopipe cache (for the "fixed" memory) that reuses the installed Go tools."""
    real = cache_root()
    cache = tmp_path / "gopipe-cache"
    cache.mkdir()
    (real / "tools").mkdir(parents=True, exist_ok=True)
    (cache / "tools").symlink_to(real / "tools")
    monkeypatch.setenv("GOPIPE_CACHE", str(cache))
    yield cache


@pytest.fixture
def chat(
    receiver: Callable[[Service], Receiver], monkeypatch: pytest.MonkeyPatch
) -> tuple[Receiver, Slack, Receiver, Wecom]:
    slack, wecom = Slack(), Wecom()
    rs, rw = receiver(slack), receiver(wecom)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", rs.base + slack.path)
    monkeypatch.setenv("WECOM_WEBHOOK_URL", f"{rw.base}/cgi-bin/webhook/send?key={wecom.key}")
    return rs, slack, rw, wecom


def configure(repo: Path, gateway: str, extra: str = "") -> None:
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + NOTIFY.format(gateway=gateway) + extra)


def break_greeting(repo: Path, broken: bool) -> None:
    path = repo / "internal" / "greet" / "greet.go"
    text = path.read_text()
    path.write_text(text.replace('"Hello, "', '"Hi, "') if broken else text.replace('"Hi, "', '"Hello, "'))


def notify_stage(result: RunResult) -> dict[str, dict[str, object]]:
    return {p["name"]: p for p in result.stage("notify")["providers"]}


def test_success_failure_and_fixed_reach_slack_and_wecom(
    hello_repo: Path,
    gopipe_run: Callable[..., RunResult],
    chat: tuple[Receiver, Slack, Receiver, Wecom],
    pushgateway: Pushgateway,
    private_cache: Path,
) -> None:
    rs, slack, rw, wecom = chat
    pushgateway.wipe()
    configure(hello_repo, pushgateway.url)

    ok = gopipe_run(hello_repo, "ci")
    assert ok.exit_code == 0, ok.report
    assert {n: p["status"] for n, p in notify_stage(ok).items()} == {
        "slack": "success",
        "wecom": "success",
        "pushgateway": "success",
    }
    (body,) = rs.bodies()
    assert body["text"] == "✅ gopipe ci succeeded · hello@main"
    assert "coverage" in str(body) and "%" in str(body)
    (success,) = rw.bodies()  # no mentions on success
    assert "gopipe ci 成功 · hello@main" in success["markdown"]["content"]
    assert "**覆盖率**：" in success["markdown"]["content"]

    break_greeting(hello_repo, broken=True)
    failed = gopipe_run(hello_repo, "ci")
    assert failed.exit_code == 1
    assert failed.stage("test")["status"] == "failed"
    slack_failure = list(rs.bodies())[1]
    assert slack_failure["text"].startswith("❌ gopipe ci failed · hello@main: go: ")
    assert "TestGreeting" in slack_failure["text"]
    fields = [f["text"] for b in slack_failure["blocks"] for f in b.get("fields", [])]
    assert "*Failed stage*\ntest" in fields
    markdown, mention = list(rw.bodies())[1:]
    assert '**失败阶段**：<font color="warning">test</font>' in markdown["markdown"]["content"]
    assert "TestGreeting" in markdown["markdown"]["content"]
    assert mention["text"]["mentioned_list"] == ["@all"]
    assert "TestGreeting" in mention["text"]["content"]

    events = [json.loads(line) for line in (hello_repo / "dist/gopipe/events.jsonl").read_text().splitlines()]
    errors = [e for e in events if e["event"] == "error"]
    assert [(e["stage"], e["provider"], e["file"]) for e in errors] == [
        ("test", "go", "internal/greet/greet_test.go")
    ]
    assert "TestGreeting" in errors[0]["message"] and errors[0]["line"] > 0

    break_greeting(hello_repo, broken=False)
    fixed = gopipe_run(hello_repo, "ci")
    assert fixed.exit_code == 0
    assert list(rs.bodies())[2]["text"] == "✅ gopipe ci fixed · hello@main"
    assert "gopipe ci 已恢复" in list(rw.bodies())[3]["markdown"]["content"]
    assert slack.problems == [] and wecom.problems == []

    metrics = pushgateway.metrics()
    assert (
        'gopipe_runs_total{instance="",job="gopipe",pipeline="ci",project="hello",status="success"} 2'
        in metrics
    )
    assert (
        'gopipe_runs_total{instance="",job="gopipe",pipeline="ci",project="hello",status="failed"} 1'
        in metrics
    )
    assert (
        'gopipe_stage_status{instance="",job="gopipe",pipeline="ci",project="hello",stage="test",'
        'status="success"} 1' in metrics
    )

    out = hello_repo / "dist" / "gopipe"
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    kinds = {e["event"] for e in events}
    assert {
        "run_started",
        "stage_started",
        "stage_finished",
        "provider_started",
        "provider_finished",
        "artifact",
        "run_finished",
    } <= kinds
    assert all(e["sha"] == fixed.report["git"]["sha"] for e in events)
    notified = {e["provider"] for e in events if e["event"] == "provider_finished" and e["stage"] == "notify"}
    assert notified == {"slack", "wecom", "pushgateway"}
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["git"]["sha"] == fixed.report["git"]["sha"]
    assert metadata["tools"]["go"].startswith("go")
    assert {b["os"] + "/" + b["arch"] for b in metadata["binaries"]} >= {"linux/amd64", "windows/amd64"}
    assert all(len(b["sha256"]) == 64 for b in metadata["binaries"])


def test_misbehaving_receivers_do_not_lose_the_others(
    hello_repo: Path,
    gopipe_run: Callable[..., RunResult],
    chat: tuple[Receiver, Slack, Receiver, Wecom],
    private_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rs, _, rw, wecom = chat
    down = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("GOPIPE_WEBHOOK_URL", f"{down}/hook?token=e2e-webhook-token-31337")
    configure(
        hello_repo,
        down,
        extra="""
[tool.gopipe.notify.webhook]
url = { env = "GOPIPE_WEBHOOK_URL" }
retry.max_attempts = 2
retry.base_delay = 0.05
""",
    )
    pyproject = hello_repo / "pyproject.toml"
    three = 'providers = ["slack", "wecom", "pushgateway"]'
    pyproject.write_text(
        pyproject.read_text()
        .replace(three, three[:-1] + ', "webhook"]')
        .replace(f'url = "{down}"', f'url = "{down}"\nretry.max_attempts = 2\nretry.base_delay = 0.05')
    )
    rs.queue(Reply(500, b"oops"), Reply.text("rate_limited", 429, **{"Retry-After": "0"}))
    wecom.per_minute = 0  # every message answered with errcode 45009

    result = gopipe_run(hello_repo, "ci")
    assert result.exit_code == 0  # notifier failures do not flip the pipeline by default
    providers = notify_stage(result)
    assert providers["slack"]["status"] == "success"
    assert len(rs.requests) == 3
    assert providers["wecom"]["status"] == "failed"
    assert "WeCom errcode 45009" in str(providers["wecom"]["error"])
    assert "wecom: not delivered: WeCom errcode 45009" in result.stage("notify")["error"]
    assert len(rw.requests) == 5  # retry.max_attempts defaults to 5
    assert providers["pushgateway"]["status"] == "failed"
    assert "connection failed" in str(providers["pushgateway"]["error"])
    assert providers["webhook"]["status"] == "failed"
    assert result.stage("notify")["status"] == "failed"
    assert (hello_repo / "dist" / "gopipe" / "report.json").is_file()
    assert "e2e-webhook-token-31337" not in (hello_repo / "dist" / "gopipe" / "report.json").read_text()

    pyproject.write_text(
        pyproject.read_text().replace(
            "[tool.gopipe.notify]\n", "[tool.gopipe.notify]\nfail_on_error = true\n"
        )
    )
    strict = gopipe_run(hello_repo, "ci")
    assert strict.exit_code == 1 and strict.report["status"] == "failed"
    assert all(s["status"] == "success" for s in strict.report["stages"] if s["name"] != "notify")
    assert os.environ["GOPIPE_CACHE"] == str(private_cache)
