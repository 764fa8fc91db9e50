"""Slack incoming webhook: Block Kit layout plus a ``text`` fallback for notifications.

Slack answers ``200 ok`` on success and a 4xx with a plain-text code on errors
(``invalid_payload``, ``channel_not_found`` …); 429 carries ``Retry-After``. Block Kit
limits are respected: header ≤ 150 characters, section text ≤ 3000, ≤ 10 fields of ≤ 2000,
≤ 50 blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gopipe import hookimpl
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.secrets import Secret
from gopipe.types import Notifier
from gopipe_plugins._common.http import DELIVERED, Response, Verdict, by_status, fail, snippet
from gopipe_plugins.notify.base import Notification, NotifyOptions, delivering, prepare
from gopipe_plugins.notify.labels import ICONS
from gopipe_plugins.notify.render import truncate_chars

HEADER_CHARS = 150
SECTION_CHARS = 3000
FIELD_CHARS = 2000
MAX_FIELDS = 10
TEXT_CHARS = 4000  # the fallback shown in notifications; Slack truncates beyond 40 000


@dataclass(frozen=True, kw_only=True)
class SlackOptions(NotifyOptions):
    """Slack incoming webhook."""

    webhook: Secret = doc('incoming webhook URL, e.g. { env = "SLACK_WEBHOOK_URL" }')
    mentions: tuple[str, ...] = doc(
        'added on failure, Slack syntax: "<!here>", "<!channel>", "<@U012AB3CD>"', ()
    )


def run(ctx: ProviderContext[SlackOptions]) -> None:
    note = prepare(ctx)
    if note is None:
        return
    with delivering(ctx, note):
        url = ctx.options.webhook.reveal()
        note.client.post_json(url, note.mask(payload(note, ctx.options)), check=check)


def payload(note: Notification, opts: SlackOptions) -> dict[str, Any]:
    msg, lab = note.message, note.labels
    mention = " ".join(opts.mentions) if note.event == "failure" and opts.mentions else ""
    title = note.values("plain")["title"]
    fallback = f"{ICONS[note.event]} {title}"
    if msg.reason:
        fallback += f": {msg.reason}"
    if note.template:
        text = note.text("slack")
        blocks = [_section(chunk) for chunk in _chunks(text, SECTION_CHARS)][:49]
    else:
        blocks = _default_blocks(note)
    if mention:
        blocks.insert(0, _section(mention))
        fallback = f"{mention} {fallback}"
    if msg.ci_url and not note.template:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": lab["ci_run"]},
                        "url": msg.ci_url,
                        **({"style": "danger"} if note.event == "failure" else {}),
                    }
                ],
            }
        )
    return {"text": truncate_chars(fallback, TEXT_CHARS), "blocks": blocks[:50]}


def _default_blocks(note: Notification) -> list[dict[str, Any]]:
    msg, lab = note.message, note.labels
    v = note.values("slack")
    commit = f"<{msg.commit_url}|`{msg.short_commit}`>" if msg.commit_url else f"`{msg.short_commit}`"
    fields = [
        ("repo", f"<{msg.repo_url}|{v['project']}>" if msg.repo_url else v["project"]),
        ("branch", v["branch"]),
        ("commit", " ".join(x for x in (commit, v["subject"]) if x)),
        ("author", v["author"]),
        ("failed_stage", v["failed_stage"]),
        ("coverage", v["coverage"]),
        ("image", v["images"]),
        ("environment", v["environments"]),
        ("duration", v["duration"]),
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "emoji": True,
                "text": truncate_chars(
                    f"{ICONS[note.event]} {note.values('plain')['title']}", HEADER_CHARS, "…"
                ),
            },
        }
    ]
    shown = [
        {"type": "mrkdwn", "text": truncate_chars(f"*{lab[key]}*\n{value}", FIELD_CHARS, "…")}
        for key, value in fields
        if value
    ][:MAX_FIELDS]
    if shown:
        blocks.append({"type": "section", "fields": shown})
    if msg.reason:
        why = f"*{lab['reason']}*\n{v['reason']}"
        if msg.details:
            details = "\n".join(line.replace("```", "'''") for line in msg.details)
            why += "\n```" + _escape(details) + "```"
        blocks.append(_section(why))
    if msg.stages:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": truncate_chars(f"*{lab['stages']}*: {v['stages']}", FIELD_CHARS, "…"),
                    }
                ],
            }
        )
    return blocks


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate_chars(text, SECTION_CHARS, "…")}}


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def check(resp: Response) -> Verdict:
    """``ok`` is success; Slack's error codes come back as text with a 4xx status."""
    if resp.status == 200:
        body = resp.text.strip()
        data = resp.json()
        if body == "ok" or (isinstance(data, dict) and data.get("ok") is True):
            return DELIVERED
        return fail(f"Slack answered HTTP 200 without ok: {snippet(resp)}")
    verdict = by_status(resp)
    if not verdict.ok and not verdict.retry:
        return fail(f"Slack refused the message: HTTP {resp.status} {snippet(resp)}")
    return verdict


@hookimpl
def gopipe_notifiers() -> list[Notifier[SlackOptions]]:
    return [
        Notifier(
            name="slack", run=run, options=SlackOptions, description="Slack incoming webhook (Block Kit)"
        )
    ]
