"""The runner's DAG, failure, timeout and cancel logic, with tiny in-test providers.

Every provider here is a few lines of Python (see ``conftest.run_plan``); processes are
``sh``/``sleep`` only, so these tests need no Go and no service.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.core.conftest import RunPlan, provider

from gopipe.context import ProviderContext
from gopipe.errors import ConfigError
from gopipe.secrets import Redactor
from gopipe.stages import Stage

PACKAGE, UPLOAD, DEPLOY, NOTIFY = Stage.PACKAGE, Stage.UPLOAD, Stage.DEPLOY, Stage.NOTIFY
Ctx = ProviderContext[Any]


def ok(ctx: Ctx) -> None:
    ctx.summary = f"{ctx.provider} done"


def fails(ctx: Ctx) -> None:
    ctx.log("checking the thing")
    ctx.fail("the thing is wrong", file="thing.txt", line=3)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _sleeper(pid_file: Path) -> list[str]:
    """A shell that records its pid, then becomes ``sleep 30`` (same pid, same group)."""
    return ["sh", "-c", f'echo $$ > "{pid_file}"; exec sleep 30']


def _wait_for_file(path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not (path.is_file() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} was not written"
        time.sleep(0.01)


# -- the DAG ---------------------------------------------------------------------------------
def test_independent_stages_run_concurrently(run_plan: RunPlan) -> None:
    both_running = threading.Barrier(2, timeout=5)  # breaks (and fails both) if run one after the other

    def meet(ctx: Ctx) -> None:
        both_running.wait()

    out = run_plan({PACKAGE: (), UPLOAD: ()}, [provider(PACKAGE, "p", meet), provider(UPLOAD, "u", meet)])
    assert out.statuses() == {"package": "success", "upload": "success"}
    assert out.report.exit_code == 0 and out.report.status == "success"


def test_providers_of_one_stage_run_concurrently_and_summaries_keep_selection_order(
    run_plan: RunPlan,
) -> None:
    both_running = threading.Barrier(2, timeout=5)

    def meet(ctx: Ctx) -> None:
        both_running.wait()
        if ctx.provider == "first":
            time.sleep(0.05)  # finishes last, is still listed first
        ctx.summary = ctx.provider

    out = run_plan({PACKAGE: ()}, [provider(PACKAGE, "first", meet), provider(PACKAGE, "second", meet)])
    assert out.stage("package").status == "success"
    assert out.stage("package").summary == "first; second"
    assert [p.name for p in out.stage("package").providers] == ["first", "second"]


def test_a_stage_waits_for_what_it_needs(run_plan: RunPlan) -> None:
    order: list[str] = []

    def record(ctx: Ctx) -> None:
        if ctx.stage == "package":
            time.sleep(0.1)  # a dependant that did not wait would be recorded first
        order.append(ctx.stage)

    # deploy is listed first in the plan but needs package
    out = run_plan(
        {DEPLOY: (PACKAGE,), PACKAGE: ()},
        [provider(PACKAGE, "p", record), provider(DEPLOY, "d", record)],
    )
    assert order == ["package", "deploy"]
    assert out.report.exit_code == 0


def test_a_failed_stage_skips_only_its_dependants(run_plan: RunPlan) -> None:
    out = run_plan(
        {PACKAGE: (), UPLOAD: (PACKAGE,), DEPLOY: ()},
        [provider(PACKAGE, "p", fails), provider(UPLOAD, "u", ok), provider(DEPLOY, "d", ok)],
    )
    assert out.statuses() == {"package": "failed", "upload": "skipped", "deploy": "success"}
    assert out.stage("upload").error == "skipped: package failed"
    failed = out.stage("package")
    assert failed.error == "p: the thing is wrong"
    (result,) = failed.providers
    assert (result.file, result.line) == ("thing.txt", 3)
    assert result.details == "checking the thing"  # the provider's log, when it gave no details
    assert out.report.status == "failed" and out.report.exit_code == 1


def test_skips_propagate_through_the_chain(run_plan: RunPlan) -> None:
    ran: list[str] = []

    def record(ctx: Ctx) -> None:
        ran.append(ctx.stage)

    out = run_plan(
        {PACKAGE: (), UPLOAD: (PACKAGE,), DEPLOY: (UPLOAD,)},
        [provider(PACKAGE, "p", fails), provider(UPLOAD, "u", record), provider(DEPLOY, "d", record)],
    )
    assert ran == []
    assert out.statuses() == {"package": "failed", "upload": "skipped", "deploy": "skipped"}
    assert out.stage("deploy").error == "skipped: upload skipped"
    finished = {e["stage"]: e["status"] for e in out.events() if e["event"] == "stage_finished"}
    assert finished == {"package": "failed", "upload": "skipped", "deploy": "skipped"}


def test_a_stage_with_no_providers_is_skipped_and_blocks_nothing(run_plan: RunPlan) -> None:
    out = run_plan({PACKAGE: (), UPLOAD: (PACKAGE,)}, [provider(UPLOAD, "u", ok)])
    assert out.statuses() == {"package": "skipped", "upload": "success"}
    assert out.stage("package").label == "skipped (no providers)"
    assert out.report.status == "success" and out.report.exit_code == 0


# -- notify ----------------------------------------------------------------------------------
def test_notify_runs_last_and_sees_the_report_so_far(run_plan: RunPlan) -> None:
    seen: dict[str, Any] = {}
    finished_at: dict[str, float] = {}

    def timed(ctx: Ctx) -> None:
        time.sleep(0.05)
        finished_at[ctx.stage] = time.monotonic()

    def notify(ctx: Ctx) -> None:
        started = time.monotonic()
        report = ctx.report
        assert report is not None
        seen.update(
            status=report.status,
            stages={s.name: s.status for s in report.stages},
            after_all=all(t <= started for t in finished_at.values()),
        )

    out = run_plan(
        {PACKAGE: (), UPLOAD: (), DEPLOY: (PACKAGE,)},
        [
            provider(PACKAGE, "p", fails),
            provider(UPLOAD, "u", timed),
            provider(DEPLOY, "d", timed),
            provider(NOTIFY, "n", notify),
        ],
    )
    assert seen == {
        "status": "failed",
        "stages": {"package": "failed", "upload": "success", "deploy": "skipped"},
        "after_all": True,
    }
    assert [s.name for s in out.report.stages] == ["package", "upload", "deploy", "notify"]
    assert out.stage("notify").status == "success"
    assert out.report.exit_code == 1


def test_notify_is_not_run_without_notifiers(run_plan: RunPlan) -> None:
    out = run_plan({PACKAGE: ()}, [provider(PACKAGE, "p", ok)])
    assert [s.name for s in out.report.stages] == ["package"]


@pytest.mark.parametrize(("fail_on_error", "exit_code"), [(False, 0), (True, 1)])
def test_a_failing_notifier_fails_the_run_only_when_asked(
    run_plan: RunPlan, fail_on_error: bool, exit_code: int
) -> None:
    out = run_plan(
        {PACKAGE: ()},
        [provider(PACKAGE, "p", ok), provider(NOTIFY, "n", fails)],
        tables={"notify": {"fail_on_error": fail_on_error}},
    )
    assert out.stage("notify").status == "failed"
    assert out.report.exit_code == exit_code


# -- exit codes and errors -------------------------------------------------------------------
def test_a_config_error_found_while_running_is_exit_2(run_plan: RunPlan) -> None:
    def bad_input(ctx: Ctx) -> None:
        raise ConfigError("pyproject.toml", "tool.gopipe.package.p.path", "no such file", "create it")

    out = run_plan(
        {PACKAGE: (), UPLOAD: ()},
        [provider(PACKAGE, "p", bad_input), provider(UPLOAD, "u", fails)],
    )
    assert out.stage("package").status == "failed"
    assert out.report.exit_code == 2 and out.report.status == "failed"
    assert out.report.error == ("pyproject.toml: tool.gopipe.package.p.path: no such file (fix: create it)")


def test_a_provider_bug_fails_its_stage_with_the_traceback_in_the_log(run_plan: RunPlan) -> None:
    def buggy(ctx: Ctx) -> None:
        {}["missing"]

    out = run_plan({PACKAGE: (), UPLOAD: ()}, [provider(PACKAGE, "p", buggy), provider(UPLOAD, "u", ok)])
    assert out.statuses() == {"package": "failed", "upload": "success"}
    assert out.stage("package").error == (
        "p: internal error in provider 'p': KeyError: 'missing' (traceback in dist/gopipe/logs/package.log)"
    )
    log = out.log("package")
    assert "Traceback (most recent call last)" in log and "in buggy" in log
    assert out.report.exit_code == 1


def test_errors_logs_and_events_are_masked(run_plan: RunPlan) -> None:
    redactor = Redactor()
    redactor.add("hunter2-very-secret")

    def leaky(ctx: Ctx) -> None:
        ctx.log("token is hunter2-very-secret")
        ctx.fail("rejected hunter2-very-secret")

    out = run_plan({PACKAGE: ()}, [provider(PACKAGE, "p", leaky)], redactor=redactor)
    assert out.stage("package").error == "p: rejected ***"
    assert "hunter2" not in out.log("package") + out.console
    assert "hunter2" not in (out.run.out / "events.jsonl").read_text()


# -- timeouts and cancel ---------------------------------------------------------------------
def test_a_stage_timeout_fails_the_stage_and_kills_its_processes(run_plan: RunPlan, tmp_path: Path) -> None:
    pid_file = tmp_path / "sleep.pid"

    def hangs(ctx: Ctx) -> None:
        done = ctx.sh(_sleeper(pid_file))
        if not done.ok:
            ctx.fail("sleep was stopped")

    started = time.monotonic()
    out = run_plan(
        {PACKAGE: (), UPLOAD: (PACKAGE,), DEPLOY: ()},
        [provider(PACKAGE, "p", hangs), provider(UPLOAD, "u", ok), provider(DEPLOY, "d", ok)],
        tables={"package": {"timeout": 1}},
    )
    assert time.monotonic() - started < 10
    assert out.stage("package").status == "failed"
    assert out.stage("package").error == "package timed out after 1s (raise [tool.gopipe.package] timeout)"
    assert out.statuses() == {"package": "failed", "upload": "skipped", "deploy": "success"}
    assert _gone(int(pid_file.read_text()))
    assert out.report.exit_code == 1


def test_cancel_stops_the_running_stage_and_cancels_pending_ones(run_plan: RunPlan, tmp_path: Path) -> None:
    pid_file = tmp_path / "sleep.pid"
    ran: list[str] = []
    notified: list[str] = []

    def interrupted(ctx: Ctx) -> None:
        def press_ctrl_c() -> None:  # what the SIGINT/SIGTERM handler does
            _wait_for_file(pid_file)
            ctx._run.tracker.cancel()  # the run's tracker, as the handler cancels it

        threading.Thread(target=press_ctrl_c, daemon=True).start()
        done = ctx.sh(_sleeper(pid_file))
        if not done.ok:
            ctx.fail("sleep was stopped")

    def record(ctx: Ctx) -> None:
        ran.append(ctx.stage)

    def notify(ctx: Ctx) -> None:
        assert ctx.report is not None
        notified.append(ctx.report.status)

    started = time.monotonic()
    out = run_plan(
        {PACKAGE: (), UPLOAD: (PACKAGE,), DEPLOY: (UPLOAD,)},
        [
            provider(PACKAGE, "p", interrupted),
            provider(UPLOAD, "u", record),
            provider(DEPLOY, "d", record),
            provider(NOTIFY, "n", notify),
        ],
    )
    assert time.monotonic() - started < 10
    assert ran == []
    assert {k: v for k, v in out.statuses().items() if k != "notify"} == {
        "package": "cancelled",
        "upload": "cancelled",
        "deploy": "cancelled",
    }
    assert out.stage("upload").error == "run cancelled"
    assert _gone(int(pid_file.read_text()))
    assert out.report.status == "cancelled" and out.report.exit_code == 130
    assert notified == ["cancelled"]  # the notifiers still hear about it


def test_cancel_also_refuses_the_stage_s_next_command(run_plan: RunPlan) -> None:
    """A Ctrl-C between two commands of a stage (or during an untracked tool install) must
    stop the stage, not let its next command run to the end."""
    second: list[tuple[bool, float]] = []

    def two_steps(ctx: Ctx) -> None:
        ctx._run.tracker.cancel()  # the run's (as Ctrl-C); arrives after the first command finished
        started = time.monotonic()
        done = ctx.sh(["sleep", "30"])
        second.append((done.cancelled, time.monotonic() - started))
        if not done.ok:
            ctx.fail("stopped")

    out = run_plan({PACKAGE: ()}, [provider(PACKAGE, "p", two_steps)])
    ((cancelled, took),) = second
    assert cancelled and took < 5
    assert out.stage("package").status == "cancelled"
    assert [p.status for p in out.stage("package").providers] == ["cancelled"]
    assert out.report.exit_code == 130


# -- provider order inside a stage (``after``) ----------------------------------------------------
def test_a_provider_declared_after_others_starts_when_they_have_finished(run_plan: RunPlan) -> None:
    from dataclasses import replace

    def push(ctx: Ctx) -> None:
        time.sleep(0.3)  # slower than the signer would be: a concurrent signer would miss it
        ctx.add_artifact("image-ref", ctx.provider)

    def sign(ctx: Ctx) -> None:
        seen = sorted(a.name for a in ctx.artifacts.of_kind("image-ref"))
        if seen != ["a-push", "b-push"]:
            ctx.fail(f"started too early: saw {seen}")
        ctx.summary = f"signed {len(seen)}"

    signer = replace(provider(UPLOAD, "signer", sign), after=("a-push", "b-push", "not-selected"))
    out = run_plan({UPLOAD: ()}, [signer, provider(UPLOAD, "a-push", push), provider(UPLOAD, "b-push", push)])
    assert out.stage("upload").status == "success", out.stage("upload").error
    assert out.stage("upload").summary == "signed 2"


def test_a_provider_after_a_failed_one_is_skipped_and_says_why(run_plan: RunPlan) -> None:
    from dataclasses import replace

    ran: list[str] = []

    def sign(ctx: Ctx) -> None:
        ran.append(ctx.provider)

    signer = replace(provider(UPLOAD, "signer", sign), after=("pusher",))
    out = run_plan({UPLOAD: ()}, [provider(UPLOAD, "pusher", fails), signer])
    upload = out.stage("upload")
    assert upload.status == "failed" and ran == []
    by_name = {p.name: p for p in upload.providers}
    assert by_name["signer"].status == "skipped" and by_name["signer"].error == "skipped: pusher failed"
    assert "signer: skipped, it runs after pusher, which failed" in out.log("upload")


def test_providers_waiting_for_each_other_are_a_config_error(run_plan: RunPlan) -> None:
    from dataclasses import replace

    a = replace(provider(UPLOAD, "a", ok), after=("b",))
    b = replace(provider(UPLOAD, "b", ok), after=("a",))
    with pytest.raises(ConfigError) as caught:
        run_plan({UPLOAD: ()}, [a, b])
    assert "tool.gopipe.upload.providers" in str(caught.value)
    assert "providers wait for each other (a -> b -> a" in str(caught.value)
    assert "\n" not in str(caught.value)
