"""Generic webhook: POST the masked run report as JSON, optionally HMAC-signed.

For anything without a dedicated notifier (an incident bot, a dashboard, a relay). The
body is ``{"event", "text", "message", "report"}``; ``report`` is what
``dist/gopipe/report.json`` holds. With ``secret`` set, ``X-Gopipe-Signature:
sha256=<hex HMAC-SHA256 of the exact body>`` lets the receiver check the sender (compare
in constant time). ``X-Gopipe-Delivery`` is unique per notification, so receivers can drop
the duplicate a retry after a lost answer may cause. Any 2xx is success.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass

from gopipe import hookimpl
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.secrets import Secret
from gopipe.types import Notifier
from gopipe_plugins._common.http import by_status
from gopipe_plugins.notify.base import NotifyOptions, delivering, prepare

SIGNATURE_HEADER = "X-Gopipe-Signature"


@dataclass(frozen=True, kw_only=True)
class WebhookOptions(NotifyOptions):
    """Generic JSON webhook."""

    url: Secret = doc('receiver URL (may embed a token), e.g. { env = "GOPIPE_WEBHOOK_URL" }')
    secret: Secret | None = doc("HMAC-SHA256 key for the X-Gopipe-Signature header", None)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def run(ctx: ProviderContext[WebhookOptions]) -> None:
    note = prepare(ctx)
    if note is None:
        return
    report = ctx.report
    assert report is not None  # prepare() checked
    opts = ctx.options
    with delivering(ctx, note):
        url = opts.url.reveal()
        key = opts.secret.reveal() if opts.secret is not None else None  # before masking
        data = note.mask(
            {
                "event": note.event,
                "text": note.text("plain"),
                "message": note.message.to_json(),
                "report": report.to_json(),
            }
        )
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Gopipe-Event": note.event,
            "X-Gopipe-Delivery": str(uuid.uuid4()),
        }
        if key is not None:
            headers[SIGNATURE_HEADER] = signature(key, body)
        note.client.send("POST", url, body, headers=headers, check=by_status)


@hookimpl
def gopipe_notifiers() -> list[Notifier[WebhookOptions]]:
    return [
        Notifier(
            name="webhook",
            run=run,
            options=WebhookOptions,
            description="generic JSON webhook with the masked report, HMAC-signed",
        )
    ]
