"""Run a hand-built plan with tiny in-test providers, without Go and without services.

The providers are registered through the real registration hooks on a real plugin
manager and selected from a real ``[tool.gopipe]`` table, so the runner sees exactly
what it sees in ``gopipe run``; only the plan is built by hand, to control ``needs``.
Building the run context and the runner happens in :func:`_execute` alone, so a change
to the runner's construction is adapted in one place.

Only the stages without a cache are used (package, upload, deploy, notify): a cacheable
stage asks ``go`` for its version to fingerprint its inputs. The toolchain handed to the
runner sees an empty PATH, so a test that reaches Go by mistake fails instead of
quietly depending on it.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gopipe import hookimpl
from gopipe.cache import CACHEABLE
from gopipe.config import load_config
from gopipe.console import Console
from gopipe.context import ProviderContext, RunArgs, RunContext
from gopipe.events import EventLog
from gopipe.git import UNKNOWN
from gopipe.gotools import GoToolchain
from gopipe.manager import create_manager
from gopipe.plan import Plan
from gopipe.registry import ProviderRegistry
from gopipe.report import Report, StageResult
from gopipe.runner import Runner
from gopipe.secrets import Redactor
from gopipe.stages import Stage
from gopipe.testing import toml_dumps
from gopipe.types import PROVIDER_TYPES, Provider

RunFn = Callable[[ProviderContext[Any]], None]


def provider(stage: Stage, name: str, run: RunFn) -> Provider:
    """A provider of ``stage`` with no options, typed as the stage's hook expects."""
    if stage in CACHEABLE:
        raise ValueError(f"{stage} is cacheable and would run go; use package, upload, deploy or notify")
    return PROVIDER_TYPES[stage](name=name, run=run)


class _TestProviders:
    """A plugin that registers the given providers through the registration hooks."""

    def __init__(self, providers: Sequence[Provider]) -> None:
        self._providers = list(providers)

    def _of(self, stage: Stage) -> list[Provider]:
        return [p for p in self._providers if p.stage is stage]

    @hookimpl
    def gopipe_packagers(self) -> list[Provider]:
        return self._of(Stage.PACKAGE)

    @hookimpl
    def gopipe_uploaders(self) -> list[Provider]:
        return self._of(Stage.UPLOAD)

    @hookimpl
    def gopipe_deployers(self) -> list[Provider]:
        return self._of(Stage.DEPLOY)

    @hookimpl
    def gopipe_notifiers(self) -> list[Provider]:
        return self._of(Stage.NOTIFY)


@dataclass(frozen=True)
class Outcome:
    """What one runner execution left behind."""

    report: Report
    run: RunContext
    console: str

    def stage(self, name: str) -> StageResult:
        found = self.report.stage(name)
        assert found is not None, f"no stage {name!r} in {[s.name for s in self.report.stages]}"
        return found

    def statuses(self) -> dict[str, str]:
        return {s.name: s.status for s in self.report.stages}

    def events(self) -> list[dict[str, Any]]:
        lines = (self.run.out / "events.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def log(self, stage: str) -> str:
        return (self.run.out / "logs" / f"{stage}.log").read_text()


RunPlan = Callable[..., Outcome]


def _execute(
    root: Path,
    needs: Mapping[Stage, Sequence[Stage]],
    providers: Sequence[Provider],
    stage_tables: Mapping[str, Mapping[str, Any]],
    redactor: Redactor,
) -> Outcome:
    """Config → manager → selection → RunContext → Runner; the one place that builds them."""
    tables: dict[str, dict[str, Any]] = {
        stage.value: {"providers": [p.name for p in providers if p.stage is stage]}
        for stage in (*needs, Stage.NOTIFY)
    }
    for name, table in stage_tables.items():
        tables.setdefault(name, {}).update(table)
    (root / "pyproject.toml").write_text(toml_dumps({"tool": {"gopipe": tables}}))
    config = load_config(root)
    pm = create_manager((), entry_points=False)
    pm.register(_TestProviders(providers), name="unit-test-providers")
    registry = ProviderRegistry.collect(pm)
    config = registry.validate(config, redactor)
    plan = Plan(name="unit", stages=tuple(needs), needs={s: tuple(d) for s, d in needs.items()})
    selected = {s: registry.select(config, s, redactor) for s in (*plan.stages, Stage.NOTIFY)}
    stream = io.StringIO()
    events = EventLog(config.out / "events.jsonl", redactor, UNKNOWN.sha)
    run = RunContext(
        config=config,
        git=UNKNOWN,
        redactor=redactor,
        console=Console(redactor, stream=stream),
        events=events,
        go=GoToolchain(root, {"PATH": str(root / "no-go-here")}),
        pm=pm,
        args=RunArgs(pipeline=plan.name),
        env=dict(os.environ),
    )
    try:
        report = Runner(run, plan, selected).execute()
    finally:
        events.close()
    return Outcome(report, run, stream.getvalue())


@pytest.fixture
def run_plan(tmp_path: Path) -> RunPlan:
    """``run_plan(needs, providers, tables={}, redactor=None)``: execute a hand-built plan.

    ``needs`` maps each planned stage (in plan order) to the stages it needs; ``providers``
    are selected for their stages in the given order; ``tables`` adds stage-level keys
    (``{"package": {"timeout": 1}}``).
    """

    def run(
        needs: Mapping[Stage, Sequence[Stage]],
        providers: Sequence[Provider],
        tables: Mapping[str, Mapping[str, Any]] | None = None,
        redactor: Redactor | None = None,
    ) -> Outcome:
        return _execute(tmp_path, needs, providers, tables or {}, redactor or Redactor())

    return run
