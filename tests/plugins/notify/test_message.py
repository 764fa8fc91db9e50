"""The message model, templates, ``on`` filters and the "fixed" memory, through the webhook
notifier and a local receiver (``services.Webhook``: any JSON body, answers 200)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.plugins.notify.conftest import GIT, Sent, sample_report
from tests.plugins.notify.receiver import Receiver, Service
from tests.plugins.notify.services import Webhook

from gopipe.report import Report
from gopipe_plugins.notify.render import truncate_bytes
from gopipe_plugins.notify.state import event_for, wanted

TABLE = 'url = { env = "GOPIPE_WEBHOOK_URL" }\nretry.base_delay = 0.01\n'


@pytest.fixture
def hook(receiver: Callable[[Service], Receiver], monkeypatch: pytest.MonkeyPatch) -> Receiver:
    r = receiver(Webhook())
    monkeypatch.setenv("GOPIPE_WEBHOOK_URL", f"{r.base}/hook")
    return r


def test_inline_template_with_placeholders(hook: Receiver, send: Callable[..., Sent]) -> None:
    template = (
        "{icon} {project} {branch} {short_commit} {event} {failed_stage}: {reason} | {coverage} "
        "| {image} | {environment} | {ci_url}"
    )
    assert send("webhook", TABLE + f'template = "{template}"\n').error is None
    assert next(hook.bodies())["text"] == (
        "❌ acme/hello main 3f2a9c1 failure lint: gofmt: 12 files are not gofmt-ed, first "
        "internal/greet/greet.go | 87.5% | registry.example.com/acme/hello@sha256:"
        + "ab" * 32
        + " | staging | https://ci.example.com/acme/hello/actions/runs/42"
    )


def test_template_file_and_zh_cn(hook: Receiver, send: Callable[..., Sent], tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / ".gopipe").mkdir(parents=True)
    (root / ".gopipe" / "notify.txt").write_text("{heading}\n{{literal}} {stages}\n")
    sent = send("webhook", TABLE + 'template_file = ".gopipe/notify.txt"\nlocale = "zh-CN"\n', root=root)
    assert sent.error is None, sent.log
    assert next(hook.bodies())["text"] == (
        "❌ gopipe ci 失败 · acme/hello@main\n{literal} lint ✘ 2.7s · test ✔ 4.5s · coverage ✔ 0.1s · "
        "build ✔ 3.1s"
    )


def test_unknown_placeholder_is_a_clear_failure(hook: Receiver, send: Callable[..., Sent]) -> None:
    sent = send("webhook", TABLE + 'template = "{status} {nope}"\n')
    assert sent.error is not None
    assert sent.error.message.startswith("template uses unknown placeholder {nope}; known: {heading}")
    assert hook.requests == []


def test_missing_secret_names_the_reference(
    send: Callable[..., Sent], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOPIPE_WEBHOOK_URL", raising=False)
    sent = send("webhook", TABLE)
    assert sent.error is not None
    assert sent.error.message == "secret unavailable: environment variable GOPIPE_WEBHOOK_URL is not set"


def test_malformed_url_is_refused_without_quoting_it(
    send: Callable[..., Sent], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOPIPE_WEBHOOK_URL", "hooks.example.com/T0/B0/not-a-url-5ecret")
    sent = send("webhook", TABLE)
    assert sent.error is not None and "not an http(s) URL" in sent.error.message
    assert "5ecret" not in sent.error.message


def test_on_filter_and_fixed(hook: Receiver, send: Callable[..., Sent], state_dir: Path) -> None:
    """failure → (filtered success) → fixed is remembered across runs in the cache dir."""
    from gopipe_plugins.notify import state

    only = TABLE + 'on = ["failure", "fixed"]\n'

    def run(report: Report) -> Sent:
        sent = send("webhook", only, report)
        assert sent.error is None, sent.log
        state.record_status(sent.run, report)  # what the plugin's gopipe_run_finished does
        return sent

    failed, ok = sample_report("failed"), sample_report("success")
    run(failed)
    fixed = run(ok)
    quiet = run(ok)
    assert [b["event"] for b in hook.bodies()] == ["failure", "fixed"]
    assert fixed.summary == "webhook sent (fixed)"
    assert quiet.summary == "webhook skipped (success)"
    assert (state_dir / "notify" / "last-status.json").is_file()


def test_event_rules() -> None:
    assert event_for("success", None) == "success"
    assert event_for("success", "failed") == "fixed"
    assert event_for("success", "success") == "success"
    assert event_for("failed", "failed") == "failure"
    assert event_for("cancelled", "success") == "cancelled"
    assert wanted("fixed", ["success"]) and wanted("fixed", ["fixed"])
    assert not wanted("success", ["failure", "fixed"])


def test_cancelled_run_says_so(hook: Receiver, send: Callable[..., Sent]) -> None:
    report = sample_report("cancelled")
    report.stages[0].status, report.stages[0].error = "success", None
    assert send("webhook", TABLE, report).error is None
    body = next(hook.bodies())
    assert body["event"] == "cancelled"
    assert body["message"]["reason"] == "run cancelled"
    assert body["text"].startswith("⏹ gopipe ci cancelled · acme/hello@main")


def test_truncate_bytes_never_splits_a_character() -> None:
    text = "失败" * 100 + "😀" * 100
    for limit in range(0, 700, 7):
        cut = truncate_bytes(text, limit, "…")
        assert len(cut.encode("utf-8")) <= max(limit, len("…".encode()))
        assert text.startswith(cut[:-1]) or cut == text
    assert truncate_bytes("short", 100) == "short"
    assert GIT.short_sha == "3f2a9c1"


def test_changelog_placeholder_carries_the_release_notes_masked_and_escaped() -> None:
    from gopipe_plugins.notify.message import build_message
    from gopipe_plugins.notify.render import render

    notes = "## v1.2.0\n\n- feat: <b>greet</b> with s3cr3t-t0ken\n"
    msg = build_message(
        sample_report(),
        "success",
        project="acme/hello",
        redactor=lambda text: text.replace("s3cr3t-t0ken", "***"),
        changelog=notes,
    )
    text = render(msg, "en", "slack", "{version}\n{changelog}")
    assert text.endswith("- feat: &lt;b&gt;greet&lt;/b&gt; with ***")
    assert render(msg, "en", "markdown", "{changelog}").startswith("## v1.2.0")
