"""Email over SMTP with STARTTLS: a plain-text part and an HTML part (multipart/alternative).

The connection is upgraded with STARTTLS before AUTH, verifying the server certificate
against the system CAs or ``ca_file``; logging in without TLS is refused. Temporary SMTP
failures (4xx replies, dropped connections, timeouts) are retried with backoff; permanent
ones (5xx, failed AUTH) fail at once.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from gopipe import hookimpl
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.secrets import Secret
from gopipe.types import Notifier
from gopipe_plugins._common.http import DeliveryError
from gopipe_plugins.notify.base import Notification, NotifyOptions, delivering, prepare

_HTML = """<!DOCTYPE html>
<html><body style="font-family: sans-serif; font-size: 14px">
<div style="white-space: pre-line">{content}</div>
</body></html>
"""


@dataclass(frozen=True, kw_only=True)
class EmailOptions(NotifyOptions):
    """SMTP with STARTTLS."""

    host: str = doc("SMTP server host name")
    port: int = doc("SMTP submission port", 587)
    sender: str = doc('From address, e.g. "gopipe <ci@example.com>"')
    to: tuple[str, ...] = doc("recipient addresses")
    username: str = doc("SMTP user; empty = no AUTH", "")
    password: Secret | None = doc('SMTP password, e.g. { env = "SMTP_PASSWORD" }', None)
    starttls: bool = doc("upgrade with STARTTLS (required for AUTH)", True)
    ca_file: str = doc(
        "CA bundle to verify the server with, relative to the repository; empty = system CAs", ""
    )
    subject_prefix: str = doc("prepended to the subject, e.g. [ci]", "")


def run(ctx: ProviderContext[EmailOptions]) -> None:
    note = prepare(ctx)
    if note is None:
        return
    opts = ctx.options
    if not opts.to:
        ctx.fail('no recipients (set to = ["team@example.com"])')
    if opts.username and not opts.starttls:
        ctx.fail("refusing to send the SMTP password without TLS (set starttls = true)")
    with delivering(ctx, note):
        password = opts.password.reveal() if opts.password is not None else ""
        message = compose(note, opts)
        send(ctx, note, opts, message, password)


def compose(note: Notification, opts: EmailOptions) -> EmailMessage:
    title = note.values("plain")["title"]
    msg = EmailMessage()
    msg["Subject"] = note.ctx.redact(f"{opts.subject_prefix} {title}".strip())
    msg["From"] = opts.sender
    msg["To"] = ", ".join(opts.to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="gopipe.invalid")
    msg["X-Gopipe-Event"] = note.event
    redact = note.ctx.redact
    msg.set_content(redact(note.text("plain")) + "\n", subtype="plain", charset="utf-8")
    msg.add_alternative(_HTML.format(content=redact(note.text("html"))), subtype="html", charset="utf-8")
    return msg


def send(
    ctx: ProviderContext[EmailOptions],
    note: Notification,
    opts: EmailOptions,
    message: EmailMessage,
    password: str,
) -> None:
    client = note.client
    policy = client.policy
    context = ssl.create_default_context(cafile=str(ctx.root / opts.ca_file) if opts.ca_file else None)
    total = policy.max_attempts
    attempt = 0
    while True:
        attempt += 1
        try:
            with smtplib.SMTP(opts.host, opts.port, timeout=client.timeout) as smtp:
                smtp.ehlo()
                if opts.starttls:
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if opts.username:
                    smtp.login(opts.username, password)
                refused = smtp.send_message(message)
            if refused:
                ctx.log(f"email: refused recipients: {', '.join(sorted(refused))}")
            ctx.log(
                f"email: delivered to {len(opts.to) - len(refused)} recipient(s) via "
                f"{opts.host}:{opts.port} (attempt {attempt}/{total})"
            )
            return
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP login refused: {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"all recipients refused: {', '.join(sorted(exc.recipients))}") from None
        except smtplib.SMTPResponseException as exc:
            reason = f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}"
            if not 400 <= exc.smtp_code < 500:
                raise DeliveryError(reason) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"SMTP server does not support it: {exc}") from None
        except ssl.SSLError as exc:
            raise DeliveryError(f"TLS failed: {exc.reason or exc}") from None
        except OSError as exc:  # SMTPServerDisconnected, refused connections, timeouts
            reason = f"{type(exc).__name__}: {exc}"
        if policy.gives_up(attempt, client.retries) is not None:
            budget = ", retry budget exhausted" if client.retries >= policy.budget else ""
            raise DeliveryError(f"{reason} (after {attempt} attempt{'s' * (attempt != 1)}{budget})")
        client.retries += 1
        wait = policy.delay(attempt, client.rng)
        ctx.log(f"email: attempt {attempt}/{total} failed: {reason}; retrying in {wait:.1f}s")
        if client.stop.wait(wait):
            raise DeliveryError(f"stopped while retrying: {reason}")


def _text(value: bytes | str) -> str:
    return (value.decode(errors="replace") if isinstance(value, bytes) else value).strip()


@hookimpl
def gopipe_notifiers() -> list[Notifier[EmailOptions]]:
    return [
        Notifier(
            name="email",
            run=run,
            options=EmailOptions,
            description="email over SMTP with STARTTLS (text + HTML)",
        )
    ]
