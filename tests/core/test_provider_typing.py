"""``Provider[O]`` ties ``run``, ``options`` and ``check`` to one options type, checked by mypy --strict.

A plugin module that pairs a run function with another provider's options must not type-check;
the matching one must, using nothing but :mod:`gopipe.api`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import gopipe
import gopipe_plugins

pytestmark = pytest.mark.slow

PLUGIN = """
from dataclasses import dataclass

from gopipe.api import Config, Notifier, ProviderContext, Secret, doc, hookimpl


@dataclass(frozen=True)
class SlackOptions:
    webhook: Secret = doc("incoming webhook URL")


@dataclass(frozen=True)
class OtherOptions:
    channel: str = doc("channel", "#ci")


def run_slack(ctx: ProviderContext[SlackOptions]) -> None:
    ctx.log(ctx.options.webhook.describe())


def check_slack(config: Config, options: SlackOptions) -> None:
    assert options.webhook.env


@hookimpl
def gopipe_notifiers() -> list[Notifier[SlackOptions]]:
    return [Notifier(name="slack", run=run_slack, options={options}, check={check})]
"""


def mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "plugin.py").write_text(source)
    paths = f"{Path(gopipe.__file__).parents[1]}:{Path(gopipe_plugins.__file__).parents[1]}"
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "plugin.py"],
        cwd=tmp_path,
        env={"MYPYPATH": paths, "MYPY_CACHE_DIR": str(tmp_path / ".mypy_cache"), "PATH": "/usr/bin:/bin"},
        text=True,
        capture_output=True,
        check=False,
    )


def test_matching_run_options_and_check_type_check(tmp_path: Path) -> None:
    result = mypy(tmp_path, PLUGIN.format(options="SlackOptions", check="check_slack"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_run_for_other_options_is_a_type_error(tmp_path: Path) -> None:
    result = mypy(tmp_path, PLUGIN.format(options="OtherOptions", check="None"))
    assert result.returncode == 1, result.stdout + result.stderr
    (error,) = [line for line in result.stdout.splitlines() if "error:" in line]
    assert error.startswith("plugin.py:"), error
    assert 'to "Notifier" has incompatible type' in error, error
    assert "OtherOptions" in error and "SlackOptions" in error, error
