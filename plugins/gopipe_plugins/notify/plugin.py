"""The notify plugin: registers the notifiers and remembers each run's status for "fixed"."""

from __future__ import annotations

from gopipe import hookimpl
from gopipe.context import RunContext
from gopipe.report import Report
from gopipe.types import Notifier
from gopipe_plugins.notify import dingtalk, feishu, mail, slack, teams, webhook, wecom
from gopipe_plugins.notify.state import record_status


@hookimpl
def gopipe_notifiers() -> list[Notifier]:
    return [
        Notifier(
            name="slack",
            run=slack.run,
            options=slack.SlackOptions,
            description="Slack incoming webhook (Block Kit)",
        ),
        Notifier(
            name="wecom",
            run=wecom.run,
            options=wecom.WecomOptions,
            description="WeCom group robot (markdown, @mentions on failure)",
        ),
        Notifier(
            name="dingtalk",
            run=dingtalk.run,
            options=dingtalk.DingtalkOptions,
            description="DingTalk robot (markdown, signed, @mentions)",
        ),
        Notifier(
            name="feishu",
            run=feishu.run,
            options=feishu.FeishuOptions,
            description="Feishu/Lark bot (interactive card, signed)",
        ),
        Notifier(
            name="teams",
            run=teams.run,
            options=teams.TeamsOptions,
            description="Microsoft Teams Workflows webhook (Adaptive Card)",
        ),
        Notifier(
            name="webhook",
            run=webhook.run,
            options=webhook.WebhookOptions,
            description="generic JSON webhook with the masked report, HMAC-signed",
        ),
        Notifier(
            name="email",
            run=mail.run,
            options=mail.EmailOptions,
            description="email over SMTP with STARTTLS (text + HTML)",
        ),
    ]


@hookimpl
def gopipe_run_finished(run: RunContext, report: Report) -> None:
    """Remember the final status; the next run's notifiers read it to detect "fixed"."""
    record_status(run, report)
