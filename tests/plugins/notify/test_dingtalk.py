"""DingTalk notifier against a local receiver that plays the DingTalk custom-robot API.

The receiver (``services.Dingtalk``) checks ``access_token``, the 加签 signature
(``timestamp`` + ``sign`` query parameters, HMAC-SHA256 of ``"{ts}\\n{secret}"``, valid for an
hour), the markdown shape and its 5000-character limit, and that every ``atMobiles`` entry
appears as ``@mobile`` in the text; it answers ``errcode`` 0, 300001, 310000, 34016 or 130101
as documented.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.plugins.notify.conftest import Sent, sample_report
from tests.plugins.notify.receiver import Receiver, Reply, Service
from tests.plugins.notify.services import Dingtalk

SECRET = "SECdingtalk0123456789abcdef"
TABLE = (
    'webhook = { env = "DINGTALK_WEBHOOK_URL" }\nsecret = { env = "DINGTALK_SECRET" }\n'
    "retry.base_delay = 0.01\n"
)


@pytest.fixture
def dingtalk(
    receiver: Callable[[Service], Receiver], monkeypatch: pytest.MonkeyPatch
) -> tuple[Receiver, Dingtalk]:
    service = Dingtalk(secret=SECRET)
    r = receiver(service)
    monkeypatch.setenv("DINGTALK_WEBHOOK_URL", f"{r.base}/robot/send?access_token={service.token}")
    monkeypatch.setenv("DINGTALK_SECRET", SECRET)
    return r, service


def test_signed_markdown_with_mentions(
    dingtalk: tuple[Receiver, Dingtalk], send: Callable[..., Sent]
) -> None:
    r, service = dingtalk
    sent = send("dingtalk", TABLE + 'at_mobiles = ["13800001111"]\nat_all = true\n')
    assert sent.error is None, sent.log
    assert service.problems == []
    (request,) = r.requests
    assert set(request.query) == {"access_token", "timestamp", "sign"}
    body = request.json()
    assert body["markdown"]["title"] == "gopipe ci failed · acme/hello@main"
    assert body["markdown"]["text"].endswith("\n\n@13800001111")
    assert body["at"] == {"atMobiles": ["13800001111"], "atUserIds": [], "isAtAll": True}
    assert SECRET not in request.raw_url and SECRET not in request.body.decode()


def test_success_mentions_nobody(dingtalk: tuple[Receiver, Dingtalk], send: Callable[..., Sent]) -> None:
    r, _ = dingtalk
    assert send("dingtalk", TABLE + 'at_mobiles = ["13800001111"]\n', sample_report("success")).error is None
    assert next(r.bodies())["at"] == {"atMobiles": [], "atUserIds": [], "isAtAll": False}


def test_wrong_secret_is_a_sign_mismatch(
    dingtalk: tuple[Receiver, Dingtalk], send: Callable[..., Sent], monkeypatch: pytest.MonkeyPatch
) -> None:
    r, _ = dingtalk
    monkeypatch.setenv("DINGTALK_SECRET", "SECwrong-secret-value")
    sent = send("dingtalk", TABLE)
    assert sent.error is not None
    assert "DingTalk errcode 310000: sign not match" in sent.error.message
    assert len(r.requests) == 1


def test_send_too_fast_is_retried(dingtalk: tuple[Receiver, Dingtalk], send: Callable[..., Sent]) -> None:
    r, _ = dingtalk
    r.queue(Reply.json({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}))
    sent = send("dingtalk", TABLE)
    assert sent.error is None
    assert len(r.requests) == 2
    assert r.requests[0].query["sign"] and r.requests[1].query["sign"]


def test_long_text_fits_the_limit(dingtalk: tuple[Receiver, Dingtalk], send: Callable[..., Sent]) -> None:
    r, service = dingtalk
    template = 'template = "{body}\\n' + "长" * 6000 + '"\n'
    sent = send("dingtalk", TABLE + 'at_mobiles = ["13800001111"]\n' + template)
    assert sent.error is None, sent.log
    assert service.problems == []
    assert len(next(r.bodies())["markdown"]["text"]) <= 5000
