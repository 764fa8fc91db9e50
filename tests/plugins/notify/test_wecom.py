"""WeCom notifier against a local receiver that plays the WeCom group-robot API.

The receiver (``services.Wecom``) behaves as documented: HTTP 200 for everything with the
verdict in ``errcode`` (0 ok, 93000 bad key, 40058 content over 4096 bytes for markdown or
2048 for text, 44004 empty, 45009 over 20 messages a minute), mentions only in text
messages.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.plugins.notify.conftest import Sent, sample_report
from tests.plugins.notify.receiver import Receiver, Reply, Service
from tests.plugins.notify.services import Wecom

TABLE = 'webhook = { env = "WECOM_WEBHOOK_URL" }\nretry.base_delay = 0.01\n'


@pytest.fixture
def wecom(receiver: Callable[[Service], Receiver], monkeypatch: pytest.MonkeyPatch) -> tuple[Receiver, Wecom]:
    service = Wecom()
    r = receiver(service)
    monkeypatch.setenv("WECOM_WEBHOOK_URL", f"{r.base}/cgi-bin/webhook/send?key={service.key}")
    return r, service


def test_failure_sends_markdown_then_mentions(
    wecom: tuple[Receiver, Wecom], send: Callable[..., Sent]
) -> None:
    r, service = wecom
    mentions = 'mentioned_list = ["linwei", "@all"]\nmentioned_mobile_list = ["13800001111"]\n'
    sent = send("wecom", TABLE + mentions)
    assert sent.error is None, sent.log
    assert service.problems == []
    markdown, text = r.bodies()
    content = markdown["markdown"]["content"]
    assert markdown["msgtype"] == "markdown"
    assert content.startswith('❌ **<font color="warning">gopipe ci failed · acme/hello@main</font>**')
    assert '**Failed stage**: <font color="warning">lint</font>' in content
    assert "> internal/greet/greet.go:8:1" in content and "greet.go:9:1" not in content  # first lines
    assert text == {
        "msgtype": "text",
        "text": {
            "content": "❌ gopipe ci failed · acme/hello@main\n"
            "gofmt: 12 files are not gofmt-ed, first internal/greet/greet.go\n"
            "https://ci.example.com/acme/hello/actions/runs/42",
            "mentioned_list": ["linwei", "@all"],
            "mentioned_mobile_list": ["13800001111"],
        },
    }


def test_success_mentions_nobody(wecom: tuple[Receiver, Wecom], send: Callable[..., Sent]) -> None:
    r, _ = wecom
    sent = send("wecom", TABLE + 'mentioned_list = ["@all"]\n', sample_report("success"))
    assert sent.error is None
    (only,) = r.bodies()
    assert only["msgtype"] == "markdown"
    assert '<font color="info">' in only["markdown"]["content"]


def test_zh_cn_labels(wecom: tuple[Receiver, Wecom], send: Callable[..., Sent]) -> None:
    r, _ = wecom
    assert send("wecom", TABLE + 'locale = "zh-CN"\n').error is None
    content = next(r.bodies())["markdown"]["content"]
    assert "gopipe ci 失败 · acme/hello@main" in content
    for label in (
        "**仓库**：",
        "**失败阶段**：",
        "**原因**：",
        "**覆盖率**：87.5%",
        "**镜像**：",
        "查看流水线",
    ):
        assert label in content, label


def test_long_chinese_content_is_cut_on_a_character_boundary(
    wecom: tuple[Receiver, Wecom], send: Callable[..., Sent]
) -> None:
    r, service = wecom
    details = "\n".join("错误：格式不正确，请运行 gofmt 修复 " * 20 for _ in range(8))
    sent = send("wecom", TABLE + 'locale = "zh-CN"\n', sample_report(details=details))
    assert sent.error is None, sent.log
    assert service.problems == []
    raw = r.requests[0].body.decode("utf-8")  # strict: a split character would raise
    content = next(r.bodies())["markdown"]["content"]
    assert raw
    assert 4000 < len(content.encode("utf-8")) <= 4096
    assert content.endswith("（已截断）")


def test_errcode_on_http_200_is_checked_and_rate_limit_retried(
    wecom: tuple[Receiver, Wecom], send: Callable[..., Sent]
) -> None:
    r, _ = wecom
    r.queue(
        Reply.json({"errcode": 45009, "errmsg": "api freq out of limit"}),
        Reply.json({"errcode": -1, "errmsg": "system busy"}),
    )
    sent = send("wecom", TABLE)
    assert sent.error is None
    assert [x.status for x in r.replies] == [200, 200, 200]
    assert any("WeCom errcode 45009 (frequency limit exceeded)" in line for line in sent.log)


def test_refusal_on_http_200_fails_without_retry_and_without_the_key(
    wecom: tuple[Receiver, Wecom], send: Callable[..., Sent], monkeypatch: pytest.MonkeyPatch
) -> None:
    r, _service = wecom
    monkeypatch.setenv("WECOM_WEBHOOK_URL", f"{r.base}/cgi-bin/webhook/send?key=wrong-key-123")
    sent = send("wecom", TABLE)
    assert sent.error is not None
    assert sent.error.message == "not delivered: WeCom errcode 93000: invalid webhook url (after 1 attempt)"
    assert len(r.requests) == 1
    assert not any("wrong-key-123" in line for line in sent.log)


def test_persistent_rate_limit_is_reported(wecom: tuple[Receiver, Wecom], send: Callable[..., Sent]) -> None:
    r, service = wecom
    service.per_minute = 0
    sent = send("wecom", TABLE + "retry.max_attempts = 3\n")
    assert sent.error is not None
    assert "errcode 45009" in sent.error.message and "after 3 attempts" in sent.error.message
    assert len(r.requests) == 3
