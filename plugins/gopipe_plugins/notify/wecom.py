"""WeCom (企业微信) group robot: a markdown message, plus a text message for @mentions.

The robot answers HTTP 200 even when it refuses a message, with ``{"errcode": N,
"errmsg": …}``; only errcode 0 is success. 45009 (frequency limit, 20 messages a minute
per robot) and -1 (system busy) are retried. Markdown content is limited to 4096 UTF-8
bytes and text content to 2048; longer content is cut on a character boundary.
``mentioned_list`` / ``mentioned_mobile_list`` only work on text messages, so on
failure a second, short text message carries the mentions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gopipe import hookimpl
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.secrets import Secret
from gopipe.types import Notifier
from gopipe_plugins._common.http import Response, Verdict, by_errcode
from gopipe_plugins.notify.base import Notification, NotifyOptions, delivering, prepare
from gopipe_plugins.notify.render import truncate_bytes

MARKDOWN_BYTES = 4096
TEXT_BYTES = 2048
RETRY_CODES = {45009: "frequency limit exceeded", -1: "system busy"}


@dataclass(frozen=True, kw_only=True)
class WecomOptions(NotifyOptions):
    """WeCom group robot webhook."""

    webhook: Secret = doc('robot webhook URL with its key, e.g. { env = "WECOM_WEBHOOK_URL" }')
    mentioned_list: tuple[str, ...] = doc('user ids to @ on failure ("@all" for everyone)', ())
    mentioned_mobile_list: tuple[str, ...] = doc("mobile numbers to @ on failure", ())


def run(ctx: ProviderContext[WecomOptions]) -> None:
    note = prepare(ctx)
    if note is None:
        return
    opts = ctx.options
    with delivering(ctx, note):
        url = opts.webhook.reveal()
        note.client.post_json(url, note.mask(markdown_payload(note)), check=check)
        mention = mention_payload(note, opts)
        if mention is not None:
            note.client.post_json(url, note.mask(mention), check=check)


def markdown_payload(note: Notification) -> dict[str, Any]:
    content = truncate_bytes(note.text("wecom"), MARKDOWN_BYTES, f"\n…{note.labels['truncated']}")
    return {"msgtype": "markdown", "markdown": {"content": content}}


def mention_payload(note: Notification, opts: WecomOptions) -> dict[str, Any] | None:
    if note.event != "failure" or not (opts.mentioned_list or opts.mentioned_mobile_list):
        return None
    v = note.values("plain")
    text = f"{v['icon']} {v['title']}" + (f"\n{v['reason']}" if v["reason"] else "")
    if note.message.ci_url:
        text += f"\n{note.message.ci_url}"
    body: dict[str, Any] = {"content": truncate_bytes(text, TEXT_BYTES, "…")}
    if opts.mentioned_list:
        body["mentioned_list"] = list(opts.mentioned_list)
    if opts.mentioned_mobile_list:
        body["mentioned_mobile_list"] = list(opts.mentioned_mobile_list)
    return {"msgtype": "text", "text": body}


def check(resp: Response) -> Verdict:
    """errcode decides, whatever the HTTP status says."""
    return by_errcode(resp, "WeCom", RETRY_CODES)


@hookimpl
def gopipe_notifiers() -> list[Notifier[WecomOptions]]:
    return [
        Notifier(
            name="wecom",
            run=run,
            options=WecomOptions,
            description="WeCom group robot (markdown, @mentions on failure)",
        )
    ]
