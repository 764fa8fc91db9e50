"""An in-process SMTP server (aiosmtpd) with STARTTLS and AUTH.

Mail notifications must negotiate STARTTLS against a CA they were told to
trust and log in before sending, so the server refuses AUTH and MAIL before
STARTTLS and refuses MAIL before AUTH.  Messages are parsed and collected in a
list instead of being delivered anywhere.
"""

from __future__ import annotations

import email
import email.policy
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from tests.harness import procs
from tests.harness.tls import make_tls


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted message, with its envelope."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes


@dataclass
class SmtpServer:
    """Connection details and the messages received so far."""

    host: str
    port: int
    username: str
    password: str
    ca_cert: Path
    messages: list[ReceivedMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)  # usernames that authenticated

    def env(self) -> dict[str, str]:
        return {
            "SMTP_HOST": self.host,
            "SMTP_PORT": str(self.port),
            "SMTP_USERNAME": self.username,
            "SMTP_PASSWORD": self.password,
            "SMTP_CA_CERT": str(self.ca_cert),
        }

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Wait until at least `count` messages arrived (DATA is handled in another thread)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} message(s), got {len(self.messages)}")
            time.sleep(0.05)
        return list(self.messages)


class _Handler:
    """aiosmtpd handler that stores messages on the SmtpServer."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server
        self.lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        with self.lock:
            self.server.messages.append(
                ReceivedMessage(str(envelope.mail_from), list(envelope.rcpt_tos), msg, raw)
            )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """SMTP on 127.0.0.1 with STARTTLS (throw-away CA in `ca_cert`) and AUTH PLAIN/LOGIN."""
    try:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword
    except ImportError:
        pytest.fail(
            f"aiosmtpd is not installed: {procs.PIP_HINT} (scripts/deps/pip-test.txt)",
            pytrace=False,
        )
    tmp = Path(tempfile.mkdtemp(prefix="gopipe-smtp-"))
    try:
        started = time.monotonic()
        files = make_tls(tmp / "tls")
        info = SmtpServer(
            host="127.0.0.1",
            port=procs.free_port(),
            username="gopipe",
            password=secrets.token_urlsafe(12),
            ca_cert=files.ca_cert,
        )

        def authenticator(_srv: Any, _sess: Any, _env: Any, _mech: str, data: Any) -> Any:
            ok = (
                isinstance(data, LoginPassword)
                and data.login.decode() == info.username
                and data.password.decode() == info.password
            )
            if ok:
                info.logins.append(info.username)
            # handled=False: let aiosmtpd send the 535 itself on failure.
            return AuthResult(success=ok, handled=False)

        controller = Controller(
            _Handler(info),
            hostname=info.host,
            port=info.port,
            server_hostname="localhost",
            tls_context=files.server_context(),
            require_starttls=True,
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=True,
            ready_timeout=10,
        )
        controller.start()
        procs.record_startup("smtp_server", started)
        try:
            yield info
        finally:
            controller.stop()
    finally:
        procs.rmtree(tmp)
