"""What every notifier shares: common options, the ``on`` filter, and error handling.

A provider's ``run`` is: ``prepare`` (decide whether to send, build the message, set up the
retrying client), build the service's payload, send it inside ``delivering`` (which turns
delivery errors into one-line stage failures). Payloads go through the run's redactor
before they are signed and sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn, TypeVar

from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe_oci.retry import RetryPolicy
from gopipe_plugins._common.http import RENAMED_RETRY_KEYS, Client, DeliveryError
from gopipe_plugins.notify.labels import EVENTS, Event, Locale, labels
from gopipe_plugins.notify.message import Message, build_message
from gopipe_plugins.notify.render import Dialect, TemplateError, load_template, placeholders, render
from gopipe_plugins.notify.state import event_for, previous_status, wanted

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class NotifyOptions:
    """Options every notifier accepts."""

    on: tuple[Event, ...] = doc(
        'events to notify on: "success", "failure", "fixed" (success after a failed run), '
        '"cancelled"; "success" includes "fixed"',
        EVENTS,
    )
    locale: Locale = doc('label language: "en" or "zh-CN"', "en")
    template: str = doc(
        "message template with {placeholders} (see docs/observability.md); empty = the built-in layout", ""
    )
    template_file: str = doc("file holding the template, inside the repository", "")
    timeout: float = doc("seconds to wait for each request", 10.0)
    retry: RetryPolicy = doc(
        "retries of 429/5xx/connection errors and the service's rate-limit codes",
        default_factory=RetryPolicy,
    )

    RENAMED_KEYS: ClassVar[Mapping[str, tuple[str, str]]] = RENAMED_RETRY_KEYS


@dataclass(frozen=True)
class Notification:
    """One provider's view of what to send."""

    message: Message
    locale: Locale
    template: str | None
    client: Client
    ctx: ProviderContext[NotifyOptions]

    @property
    def event(self) -> Event:
        return self.message.event

    @property
    def labels(self) -> dict[str, str]:
        return labels(self.locale)

    def text(self, dialect: Dialect) -> str:
        """The user's template, or the default heading + body, for ``dialect``, masked
        (so that the services' length limits cut masked text, never a secret)."""
        return self.ctx.redact(render(self.message, self.locale, dialect, self.template))

    def values(self, dialect: Dialect) -> dict[str, str]:
        """Every placeholder's value (``title``, ``reason`` …) escaped for ``dialect``, masked."""
        return {k: self.ctx.redact(v) for k, v in placeholders(self.message, self.locale, dialect).items()}

    def mask(self, payload: T) -> T:
        """Payload with every known secret masked (JSON-like data only)."""
        return self.ctx.redact_obj(payload)


def prepare(ctx: ProviderContext[NotifyOptions]) -> Notification | None:
    """Build the notification, or return None when ``on`` filters this run out."""
    report = ctx.report
    if report is None:
        ctx.fail("no run report to notify about (notify runs after the pipeline)")
    opts = ctx.options
    event = event_for(report.status, previous_status(ctx.git, ctx.root, report.pipeline))
    if not wanted(event, opts.on):
        ctx.log(f"{ctx.provider}: not sending: event {event!r} is not in on = {list(opts.on)}")
        ctx.summary = f"{ctx.provider} skipped ({event})"
        return None
    # read only inside the repository: template_file = "/etc/passwd" is a ConfigError
    path = ctx.repo_path(opts.template_file, "template_file") if opts.template_file else None
    try:
        template = load_template(opts.template, path, opts.template_file)
    except TemplateError as exc:
        fail(ctx, str(exc))
    notes = next((a for a in ctx.artifacts.of_kind("changelog") if a.path), None)
    changelog = ""
    if notes is not None and notes.path:  # a release: its notes are {changelog}
        changelog = ctx.repo_path(notes.path, "changelog").read_text(encoding="utf-8")
    message = build_message(
        report, event, project=ctx.render("{project}"), redactor=ctx.redact, changelog=changelog
    )
    client = Client(ctx.provider, opts.retry, log=ctx.log, timeout=opts.timeout, stop=ctx.tracker.cancelled)
    return Notification(message, opts.locale, template, client, ctx)


@contextlib.contextmanager
def delivering(ctx: ProviderContext[Any], note: Notification) -> Iterator[None]:
    """Turn delivery, secret and template problems into one-line stage failures."""
    try:
        yield
    except DeliveryError as exc:
        fail(ctx, f"not delivered: {exc}")
    except LookupError as exc:  # Secret.reveal(): the env var or file is missing
        fail(ctx, f"secret unavailable: {exc}")
    except TemplateError as exc:
        fail(ctx, str(exc))
    ctx.summary = f"{ctx.provider} sent ({note.event})"


def fail(ctx: ProviderContext[Any], message: str) -> NoReturn:
    ctx.fail(message)  # the runner prefixes the provider's name
