"""Execute a plan: independent stages concurrently, dependants after, notify always last.

A failed stage skips the stages that need it but lets independent ones finish. Each stage
has a deadline; its processes are killed when it passes. Ctrl-C/SIGTERM cancels the run:
running process groups are terminated, pending stages are marked cancelled, and the
report is still written.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from gopipe import proctree
from gopipe.cache import CACHEABLE, CachedStage, SourceTree, StageCache, fingerprint
from gopipe.config import Config
from gopipe.config.stage_settings import NotifySettings
from gopipe.context import ProviderContext, RunContext
from gopipe.errors import ConfigError, GopipeError, StageFailed
from gopipe.git import work_tree_root
from gopipe.plan import Plan
from gopipe.proc import GRACE_S, ProcessTracker
from gopipe.registry import SelectedProvider
from gopipe.release_verify import Gate
from gopipe.remote_cache.setup import open_remote_cache
from gopipe.report import (
    EXIT_CODES,
    NO_PROVIDERS,
    ProviderResult,
    Report,
    StageResult,
    ci_run_url,
    run_status,
)
from gopipe.secrets import Redactor
from gopipe.stagelog import StageLog
from gopipe.stages import Stage

_DETAIL_LINES = 60


class Runner:
    def __init__(
        self,
        run: RunContext,
        plan: Plan,
        selected: Mapping[Stage, list[SelectedProvider]],
        preflight_error: GopipeError | None = None,
        finished: Mapping[Stage, StageResult] | None = None,
        title: str | None = None,
        gates: Mapping[Stage, Gate] | None = None,
    ) -> None:
        self.run = run
        self.gates = dict(gates or {})  # a step before a stage's providers (the release's verify)
        self.plan = plan
        self.selected = selected
        self.preflight_error = preflight_error
        self.finished = dict(finished or {})  # plan stages that already ran elsewhere
        self.title = title
        self.sources = SourceTree(run.root, [run.config.dist])
        self.cache = StageCache(run.out / "cache", run.root)
        self.remote = open_remote_cache(run) if preflight_error is None else None
        self.fingerprints: dict[Stage, str] = {}
        self.config_errors: list[ConfigError] = []
        self.started_at = time.time()
        self._t0 = time.monotonic()

    # -- the DAG -----------------------------------------------------------------------
    def execute(self) -> Report:
        run, plan = self.run, self.plan
        run.console.start(
            self.title or plan.name,
            [s.value for s in plan.stages] + (["notify"] if self._notifies() else []),
        )
        run.events.emit("run_started", pipeline=plan.name, stages=[s.value for s in plan.stages])
        if self.preflight_error is not None:
            run.events.emit("error", where="config", message=str(self.preflight_error))
        results: dict[Stage, StageResult] = {}
        for stage, result in self.finished.items():
            results[stage] = result
            run.console.stage_finished(result, [])
        pending = [s for s in plan.stages if s not in results]
        running: dict[Future[StageResult], Stage] = {}
        with ThreadPoolExecutor(max_workers=max(1, len(plan.stages)), thread_name_prefix="stage") as pool:
            while pending or running:
                for stage in list(pending):
                    needs = plan.needs[stage]
                    if not all(d in results for d in needs):
                        continue
                    pending.remove(stage)
                    blocked = [d for d in needs if not results[d].passed]
                    if run.tracker.cancelled.is_set():
                        results[stage] = self._finish_unstarted(stage, "cancelled", "run cancelled")
                    elif blocked:
                        why = ", ".join(f"{d} {results[d].status}" for d in blocked)
                        results[stage] = self._finish_unstarted(stage, "skipped", f"skipped: {why}")
                    else:
                        running[pool.submit(self.run_stage, stage)] = stage
                if not running:
                    continue
                done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    stage = running.pop(future)
                    results[stage] = future.result()
        self._close_remote()
        stages = [results[s] for s in plan.stages]
        report = self._report(stages)
        if self._notifies():
            run.report = report
            notify = self.run_stage(Stage.NOTIFY)
            report.stages.append(notify)
            if run.tracker.cancelled.is_set() and report.error is None:  # Ctrl-C during notify
                report.status, report.exit_code = "cancelled", EXIT_CODES["cancelled"]
            if notify.status == "failed" and report.status == "success" and _notify_fails_run(run.config):
                report.status, report.exit_code = "failed", 1
            if self.config_errors and report.error is None:  # bad input found by a notifier
                bad = self.config_errors[0]
                report.status, report.exit_code = "failed", bad.exit_code
                report.error = run.redactor(str(bad))
        report.duration_s = time.monotonic() - self._t0
        report.artifacts = list(run.artifacts)
        return report

    def _close_remote(self) -> None:
        remote = self.remote
        if remote is None:
            return
        remote.close()
        self.run.events.emit("remote_cache_finished", down=remote.down, **remote.stats)
        if remote.down is None:
            st = remote.stats
            self.run.console.line(
                f"remote cache: {st['hits']} restored, {st['misses']} missed, {st['rejected']} rejected, "
                f"{st['stored']} stored"
            )

    def _notifies(self) -> bool:
        return self.plan.notify and bool(self.selected.get(Stage.NOTIFY))

    def _report(self, stages: list[StageResult]) -> Report:
        status = run_status((s.status for s in stages), cancelled=self.run.tracker.cancelled.is_set())
        exit_code = EXIT_CODES[status]
        error = None
        bad_input = self.preflight_error or next(iter(self.config_errors), None)
        if bad_input is not None:
            status, exit_code = "failed", bad_input.exit_code
            error = self.run.redactor(str(bad_input))
        return Report(
            pipeline=self.plan.name,
            status=status,
            started_at=self.started_at,
            duration_s=time.monotonic() - self._t0,
            git=self.run.git,
            stages=stages,
            artifacts=list(self.run.artifacts),
            exit_code=exit_code,
            error=error,
            ci_url=ci_run_url(self.run.env),
            snapshot=self.run.args.snapshot,
        )

    def _finish_unstarted(self, stage: Stage, status: str, why: str) -> StageResult:
        result = StageResult(
            name=stage.value, error=why, status="skipped" if status == "skipped" else "cancelled"
        )
        self.run.events.emit("stage_finished", stage=stage.value, status=result.status, error=why)
        self.run.console.stage_finished(result, [])
        self._observe("gopipe_stage_finished", result=result)
        return result

    # -- one stage -----------------------------------------------------------------------
    def _fingerprint(self, stage: Stage) -> str:
        run = self.run
        return fingerprint(
            stage,
            self.sources,
            self.selected.get(stage, []),
            run.env,
            run.go.version(),
            run.config.settings,
            (run.args.targets, run.args.shard, run.args.go_args, *self._stamp(stage)),
            [self.fingerprints[d] for d in self.plan.needs.get(stage, ())],
        )

    def _stamp(self, stage: Stage) -> tuple[str, ...]:
        """What the build stamps into binaries besides the sources: a tag (or ``--snapshot``)
        on an unchanged tree must rebuild, not restore binaries that carry the old version."""
        git = self.run.git
        return (git.version, git.sha, str(git.commit_time)) if stage is Stage.BUILD else ()

    def run_stage(self, stage: Stage) -> StageResult:
        """Run one stage now; restore it from the stage cache when its inputs are unchanged.

        A stage whose upstream ran elsewhere (``gopipe merge``) has no fingerprint and always runs.
        """
        if stage in CACHEABLE and all(d in self.fingerprints for d in self.plan.needs.get(stage, ())):
            self.fingerprints[stage] = key = self._fingerprint(stage)
            hit = self.cache.lookup(stage, key) if self.run.args.use_cache else None
            if hit is not None:
                return self._restore(stage, hit)
            if self.remote is not None and (hit := self.remote.lookup(stage, key)) is not None:
                self.cache.store(stage, hit, self.run.redactor)
                return self._restore(stage, hit, "restored from the remote cache")
            if self.remote is not None:
                self.remote.stage_runs(stage)  # Go's cache entries of its last trusted run, prefetched
            result = self._execute_stage(stage)
            result.inputs = key
            if result.status == "success":
                # provider-made artifacts only: observers (e.g. SARIF) rerun on a hit
                mine = [a for a in self.run.artifacts if a.stage == stage.value and a.provider]
                entry = CachedStage(key, result.summary, mine, self.run.artifacts.findings(stage.value))
                self.cache.store(stage, entry, self.run.redactor)
                if self.remote is not None:
                    self.remote.store(stage, entry, self.run.redactor.redact_obj)
            return result
        return self._execute_stage(stage)

    def _restore(self, stage: Stage, hit: CachedStage, how: str = "cached result") -> StageResult:
        """A cache hit: the stage's artifacts and findings come back, nothing runs."""
        run = self.run
        run.console.stage_started(stage.value)
        run.events.emit("stage_started", stage=stage.value, cached=True)
        self._observe("gopipe_stage_started", stage=stage.value)
        for artifact in hit.artifacts:
            run.artifacts.add(artifact)
        for finding in hit.findings:
            run.artifacts.add_finding(stage.value, finding)
            run.console.annotate(finding, stage.value)  # a cached warning is still shown
        result = StageResult(
            name=stage.value,
            status="success",
            summary=hit.summary,
            inputs=hit.fingerprint,
            cached=True,
            providers=[ProviderResult(s.name, "success", 0.0) for s in self.selected.get(stage, [])],
        )
        run.events.emit("stage_finished", stage=stage.value, status="success", cached=True, duration_s=0.0)
        self._observe("gopipe_stage_finished", result=result)
        run.console.stage_finished(result, [f"inputs unchanged ({hit.fingerprint[:12]}): {how}"])
        return result

    def _execute_stage(self, stage: Stage) -> StageResult:
        run = self.run
        timeout = run.config.stage(stage).timeout_s
        # notify still runs after a cancel, to say so, but must not hold the exit up for long
        after_cancel = run.tracker.cancelled.is_set()
        if after_cancel:
            timeout = min(timeout, GRACE_S)
        tracker = ProcessTracker(parent=run.tracker)
        log = StageLog(run.out / "logs" / f"{stage.value}.log", run.redactor)
        t0 = time.monotonic()
        run.console.stage_started(stage.value)
        run.events.emit("stage_started", stage=stage.value)
        self._observe("gopipe_stage_started", stage=stage.value)
        providers = self.selected.get(stage, [])
        gate = self.gates.get(stage)
        note = ""
        if gate is not None:
            try:
                note = gate(log.write, tracker, timeout)
            except StageFailed as exc:
                return self._gate_failed(stage, log, tracker, t0, exc)
            except ConfigError as exc:  # bad input found by the step: exit 2, as elsewhere
                self.config_errors.append(exc)
                return self._gate_failed(stage, log, tracker, t0, StageFailed(str(exc)))
            except Exception as exc:  # a bug in the step must not lose the run's report
                log.write(traceback.format_exc())
                failed = StageFailed(f"the step before {stage.value} crashed: {type(exc).__name__}: {exc}")
                return self._gate_failed(stage, log, tracker, t0, failed)
            t0 = time.monotonic()  # the providers get the whole timeout after the gate
        if not providers:
            return self._no_providers(stage, log, note)
        results: list[ProviderResult | None] = [None] * len(providers)
        summaries: list[str] = [""] * len(providers)  # in selection order, not finishing order

        index = {sel.name: i for i, sel in enumerate(providers)}
        deadline = t0 + timeout

        finished = [threading.Event() for _ in providers]

        def work(i: int, sel: SelectedProvider) -> None:
            try:
                wait_then_run(i, sel)
            finally:
                finished[i].set()

        def wait_then_run(i: int, sel: SelectedProvider) -> None:
            # ``after``: wait until those providers have ended (no polling), skip if one failed
            for name in sel.registered.provider.after:
                j = index.get(name)
                if j is None or j == i:
                    continue
                finished[j].wait(max(0.0, deadline - time.monotonic()))
                first = results[j]
                if first is None or first.status != "success":
                    why = "did not finish" if first is None else first.status
                    results[i] = ProviderResult(sel.name, "skipped", 0.0, error=f"skipped: {name} {why}")
                    log.write(f"{sel.name}: skipped, it runs after {name}, which {why}")
                    return
            results[i], summaries[i] = self._run_provider(stage, sel, tracker, log)

        threads = [
            threading.Thread(target=work, args=(i, sel), daemon=True, name=f"{stage.value}:{sel.name}")
            for i, sel in enumerate(providers)
        ]
        for t in threads:
            t.start()
        timed_out = False
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                timed_out = True
                ended = tracker.cancel()
                if ended:
                    log.write(f"timed out after {timeout:.0f}s: ended {proctree.describe(ended)}")
                t.join(10.0)
        leftovers = tracker.close()
        if leftovers:
            log.write(f"ended processes the stage left running: {proctree.describe(leftovers)}")
        duration = time.monotonic() - t0
        done = [
            r
            or ProviderResult(
                providers[i].name, "failed", duration, error=f"did not stop within {timeout:.0f}s"
            )
            for i, r in enumerate(results)
        ]
        if timed_out and after_cancel:
            status, error = "cancelled", f"{stage.value} stopped after {timeout:.0f}s: the run was cancelled"
        elif timed_out:
            status, error = (
                "failed",
                f"{stage.value} timed out after {timeout:.0f}s (raise [tool.gopipe.{stage.value}] timeout)",
            )
        elif tracker.cancelled.is_set():  # the run was cancelled while this stage ran
            status, error = "cancelled", "run cancelled"
        elif any(r.status == "failed" for r in done):
            status = "failed"
            error = "; ".join(f"{r.name}: {r.error}" for r in done if r.status == "failed")
        else:
            status, error = "success", None
        result = StageResult(
            name=stage.value,
            status=status,  # type: ignore[arg-type]
            duration_s=duration,
            providers=done,
            error=error,
            summary="; ".join(s for s in (note, *summaries) if s),
        )
        log.close()
        run.events.emit(
            "stage_finished",
            stage=stage.value,
            status=result.status,
            duration_s=round(duration, 3),
            error=error,
        )
        self._observe("gopipe_stage_finished", result=result)
        run.console.stage_finished(result, log.lines, log.blocks, self._shown(log.path))
        return result

    def _no_providers(self, stage: Stage, log: StageLog, note: str = "") -> StageResult:
        """A stage with nothing to run: ``skipped (no providers)``, not a ``success``."""
        run = self.run
        log.write(f"no providers: [tool.gopipe.{stage.value}] providers is empty")
        log.close()
        result = StageResult(name=stage.value, status="skipped", reason=NO_PROVIDERS, summary=note)
        run.events.emit("stage_finished", stage=stage.value, status="skipped", reason=NO_PROVIDERS)
        self._observe("gopipe_stage_finished", result=result)
        run.console.stage_finished(result, [])
        return result

    def _gate_failed(
        self, stage: Stage, log: StageLog, tracker: ProcessTracker, t0: float, exc: StageFailed
    ) -> StageResult:
        """The step before the providers refused: the stage fails and no provider runs."""
        run = self.run
        tracker.close()
        error = run.redactor(str(exc))
        log.write(error)
        log.close()
        result = StageResult(name=stage.value, status="failed", duration_s=time.monotonic() - t0, error=error)
        run.events.emit("stage_finished", stage=stage.value, status="failed", error=error)
        self._observe("gopipe_stage_finished", result=result)
        run.console.stage_finished(result, log.lines, log.blocks, self._shown(log.path))
        return result

    def _run_provider(
        self, stage: Stage, sel: SelectedProvider, tracker: ProcessTracker, log: StageLog
    ) -> tuple[ProviderResult, str]:
        """Run one provider; return its result and its one-line summary."""
        run = self.run
        name = sel.name
        prefix = f"[{name}] " if len(self.selected.get(stage, [])) > 1 else ""
        lines: list[str] = []

        def provider_log(line: str) -> None:
            lines.append(line)
            log.write(prefix + line)

        def provider_block(title: str, block: list[str]) -> None:
            log.block(prefix + title, block)

        ctx: ProviderContext[object] = ProviderContext(
            run, stage.value, name, sel.options, tracker, provider_log, provider_block
        )
        run.events.emit("provider_started", stage=stage.value, provider=name)
        t0 = time.monotonic()
        try:
            sel.registered.provider.run(ctx)
            result = ProviderResult(name, "success", time.monotonic() - t0)
        except ConfigError as exc:  # bad input found while running: one line, exit 2
            self.config_errors.append(exc)
            result = ProviderResult(name, "failed", time.monotonic() - t0, error=str(exc))
            run.console.error(run.redactor(str(exc)))
        except StageFailed as exc:
            result = ProviderResult(
                name,
                "failed",
                time.monotonic() - t0,
                error=exc.message,
                details=run.redactor(exc.details) if exc.details else _last_lines(run.redactor, lines),
                file=exc.file,
                line=exc.line,
            )
        except Exception as exc:  # a provider bug: keep the run going, keep the traceback
            provider_log(traceback.format_exc())
            result = ProviderResult(
                name,
                "failed",
                time.monotonic() - t0,
                error=f"internal error in provider '{name}': {type(exc).__name__}: {exc} "
                f"(traceback in {log.path.relative_to(run.root)})",
                details=_last_lines(run.redactor, lines),
            )
        if tracker.cancelled.is_set() and result.status == "failed":
            result.status = "cancelled"
        result.error = run.redactor(result.error) if result.error else None
        run.events.emit(
            "provider_finished",
            stage=stage.value,
            provider=name,
            status=result.status,
            duration_s=round(result.duration_s, 3),
            error=result.error,
        )
        if result.status == "failed":  # one greppable record per failure, with its location
            run.events.emit(
                "error",
                where="provider",
                stage=stage.value,
                provider=name,
                message=result.error,
                file=result.file,
                line=result.line,
            )
        return result, ctx.summary

    def _shown(self, path: Path) -> str:
        """``path`` as the reader finds it: from the repository's top (where CI starts)."""
        top = work_tree_root(self.run.root) or self.run.root
        return str(path.relative_to(top)) if path.is_relative_to(top) else str(path)

    def _observe(self, hook: str, **kwargs: object) -> None:
        """Call an observer hook; an observer's bug must not break the run."""
        try:
            getattr(self.run.pm.hook, hook)(run=self.run, **kwargs)
        except Exception as exc:
            self.run.console.error(f"plugin hook {hook} failed: {type(exc).__name__}: {exc}")
            self.run.events.emit("error", where="hook", hook=hook, message=f"{type(exc).__name__}: {exc}")


def _last_lines(redactor: Redactor, lines: list[str]) -> str:
    """The last lines of a provider's log, masked before they are cut (a multi-line secret
    cut in two would no longer match)."""
    return "\n".join(redactor("\n".join(lines)).splitlines()[-_DETAIL_LINES:])


def _notify_fails_run(config: Config) -> bool:
    """``[tool.gopipe.notify] fail_on_error``: whether a failed notifier fails a green run."""
    settings: NotifySettings = config.stage(Stage.NOTIFY).settings
    return settings.fail_on_error
