"""Message → text, per markup dialect and locale, with user templates on top.

Services speak different markup (Slack's mrkdwn, the Markdown subsets of WeCom, DingTalk,
Feishu and Teams, plain text, HTML for email). The default layout is one ``{heading}`` and
one ``{body}`` rendered in the service's dialect; a user template (option ``template`` or
``template_file``) may use those two or the individual placeholders listed in
:data:`PLACEHOLDERS`, all already escaped for the dialect.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gopipe_plugins.notify.labels import ICONS, STAGE_ICONS, Locale, labels
from gopipe_plugins.notify.message import Message

Dialect = Literal["markdown", "wecom", "slack", "plain", "html"]

DEFAULT_TEMPLATE = "{heading}\n{body}"

PLACEHOLDERS = (
    "heading",
    "body",
    "title",
    "icon",
    "pipeline",
    "project",
    "repo_url",
    "branch",
    "commit",
    "short_commit",
    "commit_url",
    "author",
    "subject",
    "version",
    "status",
    "event",
    "event_label",
    "failed_stage",
    "reason",
    "details",
    "stages",
    "duration",
    "coverage",
    "image",
    "images",
    "environment",
    "environments",
    "ci_url",
    "ci_link",
    "changelog",
)


class TemplateError(ValueError):
    """A template names a placeholder that does not exist (or is malformed)."""


@dataclass(frozen=True)
class _Markup:
    """The handful of constructs the default layout needs, for one dialect."""

    dialect: Dialect

    def escape(self, text: str) -> str:
        if self.dialect == "slack":
            return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if self.dialect == "html":
            return html.escape(text, quote=True)
        return text

    def bold(self, text: str) -> str:
        return {"slack": f"*{text}*", "plain": text, "html": f"<b>{text}</b>"}.get(
            self.dialect, f"**{text}**"
        )

    def link(self, text: str, url: str | None) -> str:
        if not url:
            return text
        if self.dialect == "slack":
            return f"<{self.escape(url)}|{text}>"
        if self.dialect == "html":
            return f'<a href="{html.escape(url, quote=True)}">{text}</a>'
        if self.dialect == "plain":
            return f"{text} ({url})"
        return f"[{text}]({url})"

    def code(self, text: str) -> str:
        if self.dialect == "html":
            return f"<code>{text}</code>"
        return text if self.dialect == "plain" else f"`{text}`"

    def quote(self, lines: list[str]) -> str:
        if not lines:
            return ""
        if self.dialect == "html":
            return "<pre>" + "\n".join(lines) + "</pre>"
        if self.dialect == "slack":
            return "```" + "\n".join(lines) + "```"
        if self.dialect == "plain":
            return "\n".join("    " + line for line in lines)
        return "\n".join("> " + line for line in lines)

    def status(self, text: str, event: str) -> str:
        if self.dialect == "wecom":  # WeCom markdown has three colours: info, comment, warning
            colour = {"failure": "warning", "cancelled": "comment"}.get(event, "info")
            return f'<font color="{colour}">{text}</font>'
        return text

    def join(self, lines: list[str]) -> str:
        return "\n".join(line for line in lines if line)  # HTML mail shows it with pre-line


def placeholders(msg: Message, locale: Locale, dialect: Dialect) -> dict[str, str]:
    """Every placeholder a template may use, escaped for ``dialect``."""
    lab = labels(locale)
    m = _Markup(dialect)
    e = m.escape
    event_label = lab[msg.event]
    title = lab["title"].format(pipeline=msg.pipeline, event=event_label, project=msg.project, ref=msg.ref)
    stages = " · ".join(f"{s.name} {STAGE_ICONS.get(s.status, '?')} {s.duration_s:.1f}s" for s in msg.stages)
    values = {
        "title": e(title),
        "icon": ICONS[msg.event],
        "pipeline": e(msg.pipeline),
        "project": e(msg.project),
        "repo_url": msg.repo_url or "",
        "branch": e(msg.branch),
        "commit": msg.commit,
        "short_commit": msg.short_commit,
        "commit_url": msg.commit_url or "",
        "author": e(msg.author),
        "subject": e(msg.subject),
        "version": e(msg.version),
        "status": msg.status,
        "event": msg.event,
        "event_label": e(event_label),
        "failed_stage": e(msg.failed_stage or ""),
        "reason": e(msg.reason),
        "details": "\n".join(e(line) for line in msg.details),
        "stages": e(stages),
        "duration": f"{msg.duration_s:.1f}s",
        "coverage": f"{msg.coverage:.1f}%" if msg.coverage is not None else "",
        "image": e(msg.images[0]) if msg.images else "",
        "images": e(", ".join(msg.images)),
        "environment": e(msg.environments[0]) if msg.environments else "",
        "environments": e(", ".join(msg.environments)),
        "ci_url": msg.ci_url or "",
        "ci_link": m.link(e(lab["ci_run"]), msg.ci_url) if msg.ci_url else "",
        "changelog": e(msg.changelog),
    }
    values["heading"] = f"{ICONS[msg.event]} " + m.bold(m.status(e(title), msg.event))
    values["body"] = _body(msg, lab, m, values)
    return values


def _body(msg: Message, lab: dict[str, str], m: _Markup, v: dict[str, str]) -> str:
    def field(key: str, value: str) -> str:
        return f"{m.bold(m.escape(lab[key]))}{lab['sep']}{value}" if value else ""

    commit = m.link(m.code(msg.short_commit), msg.commit_url)
    if msg.subject:
        commit += f" {v['subject']}"
    if msg.author:
        commit += f" · {v['author']}"
    lines = [
        field("repo", m.link(v["project"], msg.repo_url)),
        field("branch", v["branch"]),
        field("commit", commit),
        field("failed_stage", m.status(v["failed_stage"], "failure") if msg.failed_stage else ""),
        field("reason", v["reason"]),
        m.quote([m.escape(line) for line in msg.details]),
        field("stages", v["stages"]),
        field("coverage", v["coverage"]),
        field("image", v["images"]),
        field("environment", v["environments"]),
        field("duration", v["duration"]),
        v["ci_link"],
    ]
    return m.join(lines)


def render(msg: Message, locale: Locale, dialect: Dialect, template: str | None = None) -> str:
    """Fill ``template`` (default: heading and body) for ``dialect``."""
    values = placeholders(msg, locale, dialect)
    text = template if template else DEFAULT_TEMPLATE
    try:
        rendered = text.format_map(_Known(values))
    except TemplateError:
        raise
    except (ValueError, IndexError, AttributeError) as exc:
        raise TemplateError(f"template is malformed: {exc} (write literal braces as {{{{ }}}})") from None
    return rendered.strip("\n")


class _Known(dict[str, str]):
    def __missing__(self, key: str) -> str:
        raise TemplateError(
            f"template uses unknown placeholder {{{key}}}; known: "
            + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        )


MAX_TEMPLATE_BYTES = 64 * 1024  # a message template; more is the wrong file


def load_template(template: str, template_file: Path | None, shown: str = "") -> str | None:
    """The user's template: the inline string, else the file (already confined to the
    repository by the caller: :meth:`~gopipe.context.ProviderContext.repo_path`)."""
    if template:
        return template
    if template_file is not None:
        name = shown or str(template_file)
        try:
            if not template_file.is_file():
                raise TemplateError(f"template_file {name} is not a file")
            with template_file.open("rb") as fh:
                data = fh.read(MAX_TEMPLATE_BYTES + 1)
        except OSError as exc:
            raise TemplateError(f"template_file {name} cannot be read: {exc.strerror}") from None
        if len(data) > MAX_TEMPLATE_BYTES:
            raise TemplateError(f"template_file {name} is larger than {MAX_TEMPLATE_BYTES} bytes")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise TemplateError(f"template_file {name} is not UTF-8") from None
    return None


def truncate_bytes(text: str, limit: int, marker: str = "\n…") -> str:
    """Cut ``text`` to at most ``limit`` UTF-8 bytes, never inside a character.

    ``text`` must already be masked (``Notification.text()`` is): a cut through an unmasked
    secret leaves a prefix that no longer matches it.
    """
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = max(0, limit - len(marker.encode("utf-8")))
    # errors="ignore" drops the partial multi-byte sequence the cut may leave at the end.
    return data[:room].decode("utf-8", errors="ignore") + marker


def truncate_chars(text: str, limit: int, marker: str = "\n…") -> str:
    """Cut ``text`` to at most ``limit`` characters (services that count characters);
    ``text`` must already be masked, as for :func:`truncate_bytes`."""
    return text if len(text) <= limit else text[: max(0, limit - len(marker))] + marker
