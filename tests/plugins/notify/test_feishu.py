"""Feishu notifier against a local receiver that plays the Feishu custom-bot API.

The receiver (``services.Feishu``) checks the hook token in the path, the 20 KB body limit,
the signature in the body (``timestamp`` + ``sign`` = base64 HMAC-SHA256 keyed with
``"{ts}\\n{secret}"`` over an empty message, valid for an hour) and the interactive card
shape; it answers ``code`` 0, 19001, 19021, 9499 or 11232 as documented.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from tests.plugins.notify.conftest import Sent, sample_report
from tests.plugins.notify.receiver import Receiver, Reply, Service
from tests.plugins.notify.services import Feishu

SECRET = "feishu-signing-secret-0123"
TABLE = (
    'webhook = { env = "FEISHU_WEBHOOK_URL" }\nsecret = { env = "FEISHU_SECRET" }\nretry.base_delay = 0.01\n'
)


@pytest.fixture
def feishu(
    receiver: Callable[[Service], Receiver], monkeypatch: pytest.MonkeyPatch
) -> tuple[Receiver, Feishu]:
    service = Feishu(secret=SECRET)
    r = receiver(service)
    monkeypatch.setenv("FEISHU_WEBHOOK_URL", f"{r.base}/open-apis/bot/v2/hook/{service.token}")
    monkeypatch.setenv("FEISHU_SECRET", SECRET)
    return r, service


def test_signed_card(feishu: tuple[Receiver, Feishu], send: Callable[..., Sent]) -> None:
    r, service = feishu
    sent = send("feishu", TABLE + 'locale = "zh-CN"\nat_all = true\n')
    assert sent.error is None, sent.log
    assert service.problems == []
    body = next(r.bodies())
    assert body["msg_type"] == "interactive" and body["timestamp"].isdigit() and body["sign"]
    card = body["card"]
    assert card["header"]["template"] == "red"
    assert card["header"]["title"]["content"] == "❌ gopipe ci 失败 · acme/hello@main"
    content = card["elements"][0]["text"]["content"]
    assert content.startswith("<at id=all></at>\n**仓库**：")
    assert card["elements"][1]["actions"][0]["url"].endswith("/runs/42")
    assert SECRET not in r.requests[0].body.decode()


def test_success_card_is_green(feishu: tuple[Receiver, Feishu], send: Callable[..., Sent]) -> None:
    r, _ = feishu
    assert send("feishu", TABLE, sample_report("success")).error is None
    assert next(r.bodies())["card"]["header"]["template"] == "green"


def test_body_stays_under_20_kb(feishu: tuple[Receiver, Feishu], send: Callable[..., Sent]) -> None:
    r, service = feishu
    sent = send("feishu", TABLE + 'template = "{body}\\n' + "很长的输出 " * 4000 + '"\n')
    assert sent.error is None, sent.log
    assert service.problems == []
    assert 15 * 1024 < len(r.requests[0].body) <= 20 * 1024
    assert json.loads(r.requests[0].body)["card"]["elements"][0]["text"]["content"].endswith("(truncated)")


def test_frequency_limit_and_429_are_retried(
    feishu: tuple[Receiver, Feishu], send: Callable[..., Sent]
) -> None:
    r, _ = feishu
    r.queue(
        Reply.json({"code": 11232, "msg": "frequency limited", "data": {}}),
        Reply.json(
            {"code": 99991400, "msg": "request trigger frequency limit"},
            429,
            **{"x-ogw-ratelimit-reset": "0.1"},
        ),
    )
    sent = send("feishu", TABLE)
    assert sent.error is None, sent.log
    assert len(r.requests) == 3


def test_bad_signature_fails(
    feishu: tuple[Receiver, Feishu], send: Callable[..., Sent], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEISHU_SECRET", "not-the-secret")
    sent = send("feishu", TABLE)
    assert sent.error is not None and "Feishu code 19021" in sent.error.message
