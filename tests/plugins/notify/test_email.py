"""Email notifier against a real SMTP server (aiosmtpd) that requires STARTTLS and AUTH.

The ``smtp_server`` fixture refuses AUTH and MAIL before STARTTLS and MAIL before AUTH, and
presents a certificate from a throw-away CA, so a delivered message proves the notifier
upgraded the connection, verified the server and logged in.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.harness.smtp import SmtpServer
from tests.plugins.notify.conftest import Sent, sample_report


def table(smtp: SmtpServer, **extra: str) -> str:
    lines = [
        f'host = "{smtp.host}"',
        f"port = {smtp.port}",
        f'username = "{smtp.username}"',
        'password = { env = "SMTP_PASSWORD" }',
        f'ca_file = "{smtp.ca_cert}"',
        'sender = "gopipe <ci@example.com>"',
        'to = ["team@example.com", "lead@example.com"]',
        "retry.base_delay = 0.01",
        *(f"{k} = {v}" for k, v in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def test_text_and_html_over_starttls(
    smtp_server: SmtpServer, send: Callable[..., Sent], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", smtp_server.password)
    sent = send("email", table(smtp_server, subject_prefix='"[ci]"'))
    assert sent.error is None, sent.log
    (received,) = smtp_server.wait_for(1)
    assert smtp_server.logins == ["gopipe"]
    assert received.rcpt_tos == ["team@example.com", "lead@example.com"]
    msg = received.message
    assert msg["Subject"] == "[ci] gopipe ci failed · acme/hello@main"
    assert msg["X-Gopipe-Event"] == "failure"
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None and html is not None
    text, markup = plain.get_content(), html.get_content()
    assert "Failed stage: lint" in text and "    internal/greet/greet.go:1:1" in text
    assert "<b>Failed stage</b>: lint" in markup
    assert '<a href="https://ci.example.com/acme/hello/actions/runs/42">Open CI run</a>' in markup
    assert smtp_server.password.encode() not in received.raw


def test_zh_cn_subject_and_body(
    smtp_server: SmtpServer, send: Callable[..., Sent], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", smtp_server.password)
    sent = send("email", table(smtp_server, locale='"zh-CN"'), sample_report("success"))
    assert sent.error is None, sent.log
    msg = smtp_server.wait_for(1)[0].message
    assert msg["Subject"] == "gopipe ci 成功 · acme/hello@main"
    body = msg.get_body(("plain",))
    assert body is not None and "覆盖率：87.5%" in body.get_content()


def test_wrong_password_fails_without_retry(
    smtp_server: SmtpServer, send: Callable[..., Sent], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "wrong-password-1234")
    sent = send("email", table(smtp_server))
    assert sent.error is not None
    assert sent.error.message.startswith("not delivered: SMTP login refused: 535")
    assert smtp_server.messages == []


def test_untrusted_certificate_is_refused(
    smtp_server: SmtpServer, send: Callable[..., Sent], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", smtp_server.password)
    sent = send("email", table(smtp_server).replace(f'ca_file = "{smtp_server.ca_cert}"\n', ""))
    assert sent.error is not None and "TLS failed: CERTIFICATE_VERIFY_FAILED" in sent.error.message
    assert smtp_server.messages == []
