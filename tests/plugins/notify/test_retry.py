"""The shared ``retry`` table in a notifier: attempts, exact waits, and the per-run budget."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from tests.plugins.notify.conftest import Sent
from tests.plugins.notify.receiver import Receiver, Reply, Service
from tests.plugins.notify.services import Webhook

SECRET = "hmac-secret-for-retry-test"
TABLE = 'url = { env = "GOPIPE_WEBHOOK_URL" }\nsecret = { env = "GOPIPE_WEBHOOK_SECRET" }\n'


@pytest.fixture
def webhook(receiver: Callable[[Service], Receiver], monkeypatch: pytest.MonkeyPatch) -> Receiver:
    r = receiver(Webhook(secret=SECRET))
    monkeypatch.setenv("GOPIPE_WEBHOOK_URL", f"{r.base}/hooks/gopipe")
    monkeypatch.setenv("GOPIPE_WEBHOOK_SECRET", SECRET)
    return r


def test_waits_double_from_base_delay_without_jitter(webhook: Receiver, send: Callable[..., Sent]) -> None:
    webhook.queue(Reply(503, b"busy"), Reply(500, b"oops"))
    sent = send("webhook", TABLE + "retry = { max_attempts = 3, base_delay = 0.2, jitter = 0 }\n")
    assert sent.error is None, sent.log
    assert [r.status for r in webhook.replies][:2] == [503, 500]
    waits = [m.group(1) for line in sent.log if (m := re.search(r"retrying in ([0-9.]+)s", line))]
    assert waits == ["0.2", "0.4"]
    assert any("delivered (HTTP 200, attempt 3/3)" in line for line in sent.log)


def test_max_attempts_counts_the_first_attempt(webhook: Receiver, send: Callable[..., Sent]) -> None:
    webhook.queue(*[Reply(500, b"oops")] * 5)
    sent = send("webhook", TABLE + "retry = { max_attempts = 2, base_delay = 0.01 }\n")
    assert sent.error is not None
    assert sent.error.message == "not delivered: HTTP 500 server error: oops (after 2 attempts)"
    assert len(webhook.requests) == 2


def test_budget_bounds_the_retries_of_a_run(webhook: Receiver, send: Callable[..., Sent]) -> None:
    webhook.queue(*[Reply(500, b"oops")] * 5)
    sent = send("webhook", TABLE + "retry = { max_attempts = 5, budget = 1, base_delay = 0.01 }\n")
    assert sent.error is not None
    assert sent.error.message == (
        "not delivered: HTTP 500 server error: oops (after 2 attempts, retry budget exhausted)"
    )
    assert len(webhook.requests) == 2
