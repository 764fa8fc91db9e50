"""Teams and generic-webhook notifiers against local receivers.

``services.Teams`` plays a Workflows webhook: it requires the ``sig`` query parameter, a
``message`` with one Adaptive Card (≤ 1.5) attachment under 28 KB, and answers ``202``.
``services.Webhook`` verifies ``X-Gopipe-Signature: sha256=<hmac>`` over the exact body.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.plugins.notify.conftest import Sent
from tests.plugins.notify.receiver import Receiver, Reply, Service
from tests.plugins.notify.services import Teams, Webhook

TEAMS = 'webhook = { env = "TEAMS_WEBHOOK_URL" }\nretry.base_delay = 0.01\n'
WEBHOOK = (
    'url = { env = "GOPIPE_WEBHOOK_URL" }\nsecret = { env = "GOPIPE_WEBHOOK_SECRET" }\n'
    "retry.base_delay = 0.01\n"
)


def test_teams_adaptive_card(
    receiver: Callable[[Service], Receiver], send: Callable[..., Sent], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = Teams()
    r = receiver(service)
    monkeypatch.setenv(
        "TEAMS_WEBHOOK_URL",
        f"{r.base}/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig={service.sig}",
    )
    r.queue(Reply(502, b"bad gateway"))
    sent = send("teams", TEAMS)
    assert sent.error is None, sent.log
    assert service.problems == []
    assert [x.status for x in r.replies] == [502, 202]
    card = r.requests[-1].json()["attachments"][0]["content"]
    assert card["body"][0]["color"] == "Attention"
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["Failed stage"] == "lint" and facts["Coverage"] == "87.5%"
    assert card["actions"][0]["type"] == "Action.OpenUrl"


def test_webhook_posts_the_signed_masked_report(
    receiver: Callable[[Service], Receiver], send: Callable[..., Sent], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "hmac-secret-for-webhook-42"
    service = Webhook(secret=secret)
    r = receiver(service)
    monkeypatch.setenv("GOPIPE_WEBHOOK_URL", f"{r.base}/hooks/gopipe?token=receiver-token-9876")
    monkeypatch.setenv("GOPIPE_WEBHOOK_SECRET", secret)
    sent = send("webhook", WEBHOOK)
    assert sent.error is None, sent.log
    assert service.problems == []
    (request,) = r.requests
    body = request.json()
    assert request.header("X-Gopipe-Event") == "failure"
    assert body["event"] == "failure"
    assert body["report"]["stages"][0]["providers"][0]["details"].startswith("internal/greet/greet.go:1:1")
    assert body["message"]["coverage"] == 87.5
    assert body["text"].startswith("❌ gopipe ci failed")


def test_webhook_receiver_down_is_retried_then_reported(
    send: Callable[..., Sent], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.harness.procs import free_port

    monkeypatch.setenv("GOPIPE_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}/hook?token=abcdef123456")
    monkeypatch.setenv("GOPIPE_WEBHOOK_SECRET", "x" * 16)
    sent = send("webhook", WEBHOOK + "retry.max_attempts = 3\n")
    assert sent.error is not None
    assert "connection failed: ConnectionRefusedError" in sent.error.message
    assert "after 3 attempts" in sent.error.message
    assert "abcdef123456" not in sent.error.message + "\n".join(sent.log)
