"""Feishu / Lark (飞书) custom bot: an interactive card, signed in the body when a secret is set.

Signing ("签名校验"): ``sign = base64(HMAC-SHA256(key=f"{timestamp_s}\\n{secret}", msg=b""))``
with ``timestamp`` (seconds, as a string) and ``sign`` added to the JSON body. The bot
answers ``{"code": 0, "msg": "success"}``; 11232 (frequency limit, 100/min and 5/s per bot)
and HTTP 429 (code 99991400, wait ``x-ogw-ratelimit-reset``) are retried; 19021 (sign
mismatch), 19024 (keyword check) … fail. The request body must stay under 20 KB, so the
card's text is shortened until it fits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from gopipe import hookimpl
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.secrets import Secret, clip
from gopipe.types import Notifier
from gopipe_plugins._common.http import DELIVERED, Response, Verdict, by_status, fail, retry
from gopipe_plugins.notify.base import Notification, NotifyOptions, delivering, prepare
from gopipe_plugins.notify.render import truncate_bytes

BODY_BYTES = 20 * 1024
RETRY_CODES = {11232: "frequency limited", 99991400: "request trigger frequency limit"}
_COLOURS = {"success": "green", "fixed": "green", "failure": "red", "cancelled": "grey"}


@dataclass(frozen=True, kw_only=True)
class FeishuOptions(NotifyOptions):
    """Feishu/Lark custom bot webhook."""

    webhook: Secret = doc('bot webhook URL, e.g. { env = "FEISHU_WEBHOOK_URL" }')
    secret: Secret | None = doc("signing secret when the bot uses 签名校验", None)
    at_user_ids: tuple[str, ...] = doc("open_ids to @ on failure", ())
    at_all: bool = doc("@ everyone on failure", False)


def run(ctx: ProviderContext[FeishuOptions]) -> None:
    note = prepare(ctx)
    if note is None:
        return
    opts = ctx.options
    with delivering(ctx, note):
        url = opts.webhook.reveal()
        key = opts.secret.reveal() if opts.secret is not None else None  # before masking
        body = note.mask(payload(note, opts))
        if key is not None:
            ts = int(time.time())
            body = {"timestamp": str(ts), "sign": sign(key, ts), **body}
        note.client.post_json(url, body, check=check)


def sign(secret: str, timestamp_s: int) -> str:
    """base64 HMAC-SHA256 of an empty message keyed with ``"{timestamp}\\n{secret}"``."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def payload(note: Notification, opts: FeishuOptions) -> dict[str, Any]:
    msg, lab = note.message, note.labels
    v = note.values("markdown")
    text = note.text("markdown") if note.template else v["body"]
    if note.event == "failure":
        tags = (["<at id=all></at>"] if opts.at_all else []) + [
            f"<at id={uid}></at>" for uid in opts.at_user_ids
        ]
        if tags:
            text = " ".join(tags) + "\n" + text

    def card(content: str) -> dict[str, Any]:
        elements: list[dict[str, Any]] = [{"tag": "div", "text": {"tag": "lark_md", "content": content}}]
        if msg.ci_url:
            elements.append(
                {
                    "tag": "action",
                    "actions": [
                        {
                            "tag": "button",
                            "text": {"tag": "plain_text", "content": lab["ci_run"]},
                            "type": "danger" if note.event == "failure" else "primary",
                            "url": msg.ci_url,
                        }
                    ],
                }
            )
        return {
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": True},
                "header": {
                    "template": _COLOURS[note.event],
                    "title": {"tag": "plain_text", "content": f"{v['icon']} {note.values('plain')['title']}"},
                },
                "elements": elements,
            },
        }

    body = card(text)
    for _ in range(8):  # JSON escaping makes the size non-linear in the text: shrink, re-measure
        # 200 bytes of room for the signature fields added after masking.
        overflow = len(json.dumps(body, ensure_ascii=False).encode()) + 200 - BODY_BYTES
        if overflow <= 0 or not text:
            break
        text = truncate_bytes(text, max(0, len(text.encode()) - overflow - 64), f"\n…{lab['truncated']}")
        body = card(text)
    return body


def check(resp: Response) -> Verdict:
    data = resp.json()
    code = data.get("code", data.get("StatusCode")) if isinstance(data, dict) else None
    if isinstance(code, int) and code in RETRY_CODES:
        return retry(
            f"Feishu code {code} ({RETRY_CODES[code]})", by_status(resp).delay if resp.status == 429 else None
        )
    if resp.status != 200:
        return by_status(resp)
    if code is None:
        return fail(f"Feishu answered HTTP 200 without a code: {clip(resp.text, 200)}")
    if code == 0:
        return DELIVERED
    detail = data.get("msg", data.get("StatusMessage", "")) if isinstance(data, dict) else ""
    return fail(f"Feishu code {code}: {clip(str(detail), 200)}")


@hookimpl
def gopipe_notifiers() -> list[Notifier[FeishuOptions]]:
    return [
        Notifier(
            name="feishu",
            run=run,
            options=FeishuOptions,
            description="Feishu/Lark bot (interactive card, signed)",
        )
    ]
