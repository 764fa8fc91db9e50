"""Secrets: masked as soon as config references them, in every encoding they may take,
announced to GitHub Actions with ``::add-mask::``, and never accepted in plain text."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.plugins.notify.receiver import Receiver, Service
from tests.plugins.notify.services import Slack

from gopipe.secrets import Redactor, Secret


def test_config_reference_is_masked_before_reveal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_URL", "https://chat.example.com/hook?key=k3y-0123456789")
    redactor = Redactor()
    Secret(env="CHAT_URL", redactor=redactor)  # what parsing the config does
    assert redactor("posting to https://chat.example.com/hook?key=k3y-0123456789") == "posting to ***"
    assert redactor("the key alone: k3y-0123456789") == "the key alone: ***"
    missing = Secret(env="NOT_SET_ANYWHERE", redactor=redactor)  # no error until it is needed
    with pytest.raises(LookupError, match="NOT_SET_ANYWHERE is not set"):
        missing.reveal()


def test_encodings_and_url_tokens_are_masked() -> None:
    redactor = Redactor()
    redactor.add("p&ss<w>rd'\"x")
    redactor.add("https://hooks.example.com/services/T0AB/B0CD/abcdef0123456789xyz")
    redactor.add("https://bot:hunter22secret@gw.example.com/push")
    for text in (
        "p&amp;ss&lt;w&gt;rd&#x27;&quot;x",
        "p%26ss%3Cw%3Erd%27%22x",
        "p&ss<w>rd'\\\"x",
        "p&amp;ss&lt;w&gt;rd'&quot;x",
        "abcdef0123456789xyz",
        "hunter22secret",
    ):
        assert redactor(f"[{text}]") == "[***]", text


def test_plaintext_webhook_in_config_is_refused(tmp_path: Path) -> None:
    from gopipe.cli import main

    (tmp_path / "pyproject.toml").write_text(
        '[tool.gopipe.notify]\nproviders = ["wecom"]\n[tool.gopipe.notify.wecom]\n'
        'webhook = "https://qy.example.com/cgi-bin/webhook/send?key=abcdef0123456789"\n'
    )
    assert main(["run", "notify", "-C", str(tmp_path), "--plain"]) == 2
    report = (tmp_path / "dist" / "gopipe" / "report.json").read_text()
    assert "plaintext secret" in report and "abcdef0123456789" not in report


def test_github_actions_add_mask(tmp_path: Path, receiver: Callable[[Service], Receiver]) -> None:
    """A secret referenced from config is announced with ::add-mask:: before anything else is
    printed, and otherwise never appears in stdout, stderr or the step summary."""
    slack = Slack(path="/services/T0GH/B0GH/gh0123456789abcdefghij")
    r = receiver(slack)
    url = r.base + slack.path
    (tmp_path / "pyproject.toml").write_text(
        '[tool.gopipe.notify]\nproviders = ["slack"]\n'
        '[tool.gopipe.notify.slack]\nwebhook = { env = "CHAT_URL" }\n'
    )
    summary = tmp_path / "summary.md"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")},
        "CHAT_URL": url,
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GOPIPE_CACHE": str(tmp_path / "cache"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "gopipe.cli", "run", "notify", "-C", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(r.requests) == 1
    lines = proc.stdout.splitlines()
    masks = [line for line in lines if line.startswith("::add-mask::")]
    assert f"::add-mask::{url}" in masks
    assert "::add-mask::gh0123456789abcdefghij" in masks
    assert lines[0].startswith("::add-mask::")
    others = "\n".join(line for line in lines if not line.startswith("::add-mask::"))
    for value in (url, "gh0123456789abcdefghij"):
        assert value not in others and value not in proc.stderr and value not in summary.read_text()
