"""Slack notifier against a local receiver that plays Slack's incoming-webhook API.

The receiver (``services.Slack``) checks what Slack documents: the hook path, a JSON body
with ``text``/``blocks``, Block Kit limits (header ≤ 150, section ≤ 3000, ≤ 10 fields of
≤ 2000, ≤ 50 blocks), and answers ``200 ok``, ``400 invalid_payload``/``invalid_blocks``,
``404 no_service`` or, when told to, ``429`` with ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.plugins.notify.conftest import CI_URL, Sent, sample_report
from tests.plugins.notify.receiver import Receiver, Reply, Service
from tests.plugins.notify.services import Slack

TABLE = 'webhook = { env = "SLACK_WEBHOOK_URL" }\nretry.base_delay = 0.01\n'


@pytest.fixture
def slack(receiver: Callable[[Service], Receiver], monkeypatch: pytest.MonkeyPatch) -> tuple[Receiver, Slack]:
    service = Slack()
    r = receiver(service)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", r.base + service.path)
    return r, service


def test_failure_message_has_the_facts(slack: tuple[Receiver, Slack], send: Callable[..., Sent]) -> None:
    r, service = slack
    sent = send("slack", TABLE + 'mentions = ["<!here>"]\n')
    assert sent.error is None, sent.log
    assert sent.summary == "slack sent (failure)"
    assert service.problems == []
    (body,) = r.bodies()
    text = str(body)
    assert body["text"].startswith("<!here> ❌ gopipe ci failed · acme/hello@main: gofmt: 12 files")
    for fact in (
        "acme/hello",
        "main",
        "3f2a9c1",
        "Lin Wei",
        "lint",
        "87.5%",
        "registry.example.com/acme/hello@sha256:abab",
        "staging",
        "11.4s",
        "internal/greet/greet.go:1:1",
        "lint ✘ 2.7s",
        CI_URL,
    ):
        assert fact in text, fact
    assert body["blocks"][0] == {"type": "section", "text": {"type": "mrkdwn", "text": "<!here>"}}
    assert body["blocks"][1]["type"] == "header"


def test_success_has_no_mentions_and_no_reason(
    slack: tuple[Receiver, Slack], send: Callable[..., Sent]
) -> None:
    r, _service = slack
    sent = send("slack", TABLE + 'mentions = ["<!here>"]\n', sample_report("success"))
    assert sent.error is None
    (body,) = r.bodies()
    assert "<!here>" not in str(body)
    assert "Reason" not in str(body)
    assert body["text"] == "✅ gopipe ci succeeded · acme/hello@main"


def test_rate_limit_is_retried_after_the_servers_delay(
    slack: tuple[Receiver, Slack], send: Callable[..., Sent]
) -> None:
    r, _ = slack
    r.queue(Reply.text("rate_limited", 429, **{"Retry-After": "0.2"}), Reply(500, b"oops"))
    sent = send("slack", TABLE)
    assert sent.error is None
    assert len(r.requests) == 3
    assert any("HTTP 429 rate limited" in line and "retrying in 0.2s" in line for line in sent.log)


def test_invalid_payload_is_not_retried(slack: tuple[Receiver, Slack], send: Callable[..., Sent]) -> None:
    r, _ = slack
    r.queue(Reply.text("invalid_payload", 400))
    sent = send("slack", TABLE)
    assert sent.error is not None
    assert "Slack refused the message: HTTP 400 invalid_payload" in sent.error.message
    assert len(r.requests) == 1


def test_long_template_stays_within_block_limits(
    slack: tuple[Receiver, Slack], send: Callable[..., Sent]
) -> None:
    r, service = slack
    sent = send("slack", TABLE + 'template = "{icon} {title} *{reason}*\\n{details}\\n' + "x" * 7000 + '"\n')
    assert sent.error is None, sent.log
    assert service.problems == []
    (body,) = r.bodies()
    assert [b["type"] for b in body["blocks"]] == ["section"] * 3
