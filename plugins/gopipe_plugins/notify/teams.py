"""Microsoft Teams via a Workflows (Power Automate) webhook: an Adaptive Card 1.4.

The retired Office 365 connectors took MessageCards; Workflows webhooks take a
``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard>}]}`` envelope and
answer ``202 Accepted``. Teams messages are limited to about 28 KB, so the card's free
text is capped well below that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gopipe import hookimpl
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.secrets import Secret
from gopipe.types import Notifier
from gopipe_plugins._common.http import by_status
from gopipe_plugins.notify.base import Notification, NotifyOptions, delivering, prepare
from gopipe_plugins.notify.render import truncate_bytes

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
TEXT_BYTES = 16 * 1024
_COLOURS = {"success": "Good", "fixed": "Good", "failure": "Attention", "cancelled": "Warning"}


@dataclass(frozen=True, kw_only=True)
class TeamsOptions(NotifyOptions):
    """Teams Workflows webhook ("Post to a channel when a webhook request is received")."""

    webhook: Secret = doc('Workflows webhook URL, e.g. { env = "TEAMS_WEBHOOK_URL" }')


def run(ctx: ProviderContext[TeamsOptions]) -> None:
    note = prepare(ctx)
    if note is None:
        return
    with delivering(ctx, note):
        url = ctx.options.webhook.reveal()
        note.client.post_json(url, note.mask(payload(note)), check=by_status)


def payload(note: Notification) -> dict[str, Any]:
    msg, lab = note.message, note.labels
    v = note.values("markdown")
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "size": "Large",
            "weight": "Bolder",
            "wrap": True,
            "color": _COLOURS[note.event],
            "text": f"{v['icon']} {note.values('plain')['title']}",
        }
    ]
    if note.template:
        body.append(
            {
                "type": "TextBlock",
                "wrap": True,
                "text": truncate_bytes(note.text("markdown"), TEXT_BYTES, "\n…"),
            }
        )
    else:
        facts = [
            ("repo", f"[{v['project']}]({msg.repo_url})" if msg.repo_url else v["project"]),
            ("branch", v["branch"]),
            ("commit", " ".join(x for x in (msg.short_commit, v["subject"]) if x)),
            ("author", v["author"]),
            ("failed_stage", v["failed_stage"]),
            ("reason", v["reason"]),
            ("coverage", v["coverage"]),
            ("image", v["images"]),
            ("environment", v["environments"]),
            ("duration", v["duration"]),
        ]
        body.append(
            {
                "type": "FactSet",
                "facts": [{"title": lab[key], "value": value} for key, value in facts if value],
            }
        )
        if msg.details:
            body.append(
                {
                    "type": "TextBlock",
                    "wrap": True,
                    "fontType": "Monospace",
                    "spacing": "Small",
                    "text": truncate_bytes("\n\n".join(msg.details), TEXT_BYTES, "\n…"),
                }
            )
        if msg.stages:
            body.append(
                {
                    "type": "TextBlock",
                    "wrap": True,
                    "isSubtle": True,
                    "size": "Small",
                    "text": f"{lab['stages']}: {v['stages']}",
                }
            )
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    }
    if msg.ci_url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": lab["ci_run"], "url": msg.ci_url}]
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}],
    }


@hookimpl
def gopipe_notifiers() -> list[Notifier[TeamsOptions]]:
    return [
        Notifier(
            name="teams",
            run=run,
            options=TeamsOptions,
            description="Microsoft Teams Workflows webhook (Adaptive Card)",
        )
    ]
