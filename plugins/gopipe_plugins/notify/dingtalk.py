"""DingTalk (钉钉) custom robot: markdown with @mentions, HMAC-SHA256 signed when a secret is set.

Signing ("加签"): ``sign = urlencode(base64(HMAC-SHA256(key=secret,
msg=f"{timestamp_ms}\\n{secret}")))``, sent as ``&timestamp=…&sign=…`` on the webhook URL.
The robot answers ``{"errcode": 0, "errmsg": "ok"}``; 130101 ("send too fast", 20 messages
a minute) is retried, anything else (310000 sign mismatch, 300001 bad token …) fails.
@mentions need both the ``at`` object and ``@mobile`` / ``@userid`` in the text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from gopipe import hookimpl
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.secrets import Secret
from gopipe.types import Notifier
from gopipe_plugins._common.http import Response, Verdict, by_errcode, with_query
from gopipe_plugins.notify.base import Notification, NotifyOptions, delivering, prepare
from gopipe_plugins.notify.render import truncate_chars

TEXT_CHARS = 5000
TITLE_CHARS = 64
RETRY_CODES = {130101: "send too fast", -1: "system busy"}


@dataclass(frozen=True, kw_only=True)
class DingtalkOptions(NotifyOptions):
    """DingTalk custom robot webhook."""

    webhook: Secret = doc('robot webhook URL with access_token, e.g. { env = "DINGTALK_WEBHOOK_URL" }')
    secret: Secret | None = doc('signing secret ("SEC…") when the robot uses 加签', None)
    at_mobiles: tuple[str, ...] = doc("mobile numbers to @ on failure", ())
    at_user_ids: tuple[str, ...] = doc("user ids to @ on failure", ())
    at_all: bool = doc("@ everyone on failure", False)


def run(ctx: ProviderContext[DingtalkOptions]) -> None:
    note = prepare(ctx)
    if note is None:
        return
    opts = ctx.options
    with delivering(ctx, note):
        url = opts.webhook.reveal()
        key = opts.secret.reveal() if opts.secret is not None else None  # before masking
        body = note.mask(payload(note, opts))
        if key is not None:
            url = signed_url(url, key, int(time.time() * 1000))
        note.client.post_json(url, body, check=check)


def sign(secret: str, timestamp_ms: int) -> str:
    """base64 HMAC-SHA256 of ``"{timestamp}\\n{secret}"`` keyed with the secret."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    return with_query(url, timestamp=str(timestamp_ms), sign=sign(secret, timestamp_ms))


def payload(note: Notification, opts: DingtalkOptions) -> dict[str, Any]:
    mention = note.event == "failure"
    mobiles = list(opts.at_mobiles) if mention else []
    users = list(opts.at_user_ids) if mention else []
    tags = " ".join(f"@{who}" for who in (*mobiles, *users))
    tail = f"\n\n{tags}" if tags else ""
    text = (
        truncate_chars(note.text("markdown"), TEXT_CHARS - len(tail), f"\n…{note.labels['truncated']}") + tail
    )
    title = note.values("plain")["title"]
    return {
        "msgtype": "markdown",
        "markdown": {"title": truncate_chars(title, TITLE_CHARS, "…"), "text": text},
        "at": {"atMobiles": mobiles, "atUserIds": users, "isAtAll": bool(mention and opts.at_all)},
    }


def check(resp: Response) -> Verdict:
    """errcode decides, whatever the HTTP status says."""
    return by_errcode(resp, "DingTalk", RETRY_CODES)


@hookimpl
def gopipe_notifiers() -> list[Notifier[DingtalkOptions]]:
    return [
        Notifier(
            name="dingtalk",
            run=run,
            options=DingtalkOptions,
            description="DingTalk robot (markdown, signed, @mentions)",
        )
    ]
