"""The release's ``verify`` step: rebuild in a clean clone before anything leaves the machine.

``gopipe run release`` builds and packages, then uploads and publishes. Between the two, this
step clones the release commit into a fresh temporary directory elsewhere, runs ``build`` and
``package`` there from scratch (no stage cache, an empty ``dist/``) and compares every binary,
archive, checksum file and package by sha256 and every image by index digest with what this
run made (:func:`gopipe.verify.rebuild_and_compare`, the same comparison as ``gopipe verify``).

``[tool.gopipe.publish] verify`` says what a difference does:

- ``"require"`` (default): the upload stage fails with the first differing artifact and the
  byte where it first differs, so neither upload nor publish sends anything;
- ``"warn"``: a warning (console, events, the upload stage's summary, hence notifications),
  then upload and publish proceed;
- ``"off"``: no rebuild.

A snapshot publishes nothing, so it is not verified. The step runs first in the upload stage
(in its thread, under its process tracker and deadline), so a cancel ends the rebuild too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from gopipe.artifacts import Artifact, sha256_file
from gopipe.config.stage_settings import PublishSettings
from gopipe.errors import StageFailed
from gopipe.plan import Plan
from gopipe.proc import ProcessTracker
from gopipe.stages import Stage
from gopipe.verify import STAGES, Outcome, Recorded, outcome_lines, rebuild_and_compare, recorded_artifacts

if TYPE_CHECKING:
    from gopipe.context import RunContext

#: A step the runner runs at the start of a stage, before its providers: it gets the stage
#: log's writer, the stage's process tracker and the seconds left; it returns a note for the
#: stage's summary ("" for none) or raises :class:`StageFailed`, which fails the stage.
Gate = Callable[[Callable[[str], None], ProcessTracker, float], str]


def release_gates(run: RunContext, plan: Plan) -> dict[Stage, Gate]:
    """The verify step of a publishing, non-snapshot run, on its first sending stage."""
    if Stage.PUBLISH not in plan.stages or run.args.snapshot:
        return {}
    settings = run.config.stage(Stage.PUBLISH).settings
    mode = settings.verify if isinstance(settings, PublishSettings) else "require"
    if mode == "off":
        return {}
    first = next(s for s in (Stage.UPLOAD, Stage.PUBLISH) if s in plan.stages)
    stages = [s for s in STAGES if Stage(s) in plan.stages]
    return {first: partial(verify_step, run, mode, stages, first)}


def recorded_of(artifacts: Iterable[Artifact]) -> dict[str, Recorded]:
    """This run's artifacts in the form ``gopipe verify`` reads from a report."""
    return recorded_artifacts(
        {
            "artifacts": [
                {"kind": a.kind, "name": a.name, "path": a.path, "sha256": a.sha256, "extra": a.extra}
                for a in artifacts
            ]
        }
    )


def verify_step(
    run: RunContext,
    mode: str,
    stages: Sequence[str],
    stage: Stage,
    log: Callable[[str], None],
    tracker: ProcessTracker,
    timeout: float,
) -> str:
    recorded = recorded_of(run.artifacts)
    if not recorded:
        log("verify: this run built no binaries, archives, packages or images; nothing to compare")
        return ""

    def execute(args: Sequence[str], cwd: Path, env: Mapping[str, str]) -> tuple[int, str]:
        done = tracker.run(args, cwd=cwd, env=env, timeout=timeout)
        if done.cancelled:
            raise StageFailed(f"verify: the rebuild was stopped after {timeout:.0f}s or by a cancel")
        return done.returncode, done.stdout

    config = run.config
    default_file = (config.root / "pyproject.toml").resolve()
    log(f"verify: rebuilding {run.git.sha[:12]} ({' '.join(stages)}) in a clean clone elsewhere")
    outcome = rebuild_and_compare(
        config.root,
        recorded,
        sha=run.git.sha,
        dirty=run.git.dirty,
        stages=stages,
        config_file=None if config.file.resolve() == default_file else config.file,
        env=run.env,
        execute=execute,
        out=run.out,
    )
    lines = outcome_lines(outcome)
    for line in lines:
        log(line)
    verify_json = run.out / "verify.json"
    run.artifacts.add(
        Artifact(
            kind="verify-report",
            name=verify_json.name,
            path=str(verify_json.relative_to(config.root)),
            sha256=sha256_file(verify_json),
            stage=stage.value,
            provider="verify",
            extra={
                "status": outcome.result["status"],
                "differences": len(outcome.differences),
                "mode": mode,
            },
        )
    )
    if outcome.reproducible:
        return ""
    what = first_problem(outcome)
    if mode == "warn":
        message = f"verify (warn): {what}; published anyway"
        run.console.error(f"warning: {message}")
        run.events.emit("warning", message=message)
        return message
    raise StageFailed(
        f'verify: {what}; nothing uploaded or published (verify = "warn" relaxes this)',
        details="\n".join(lines),
    )


def first_problem(outcome: Outcome) -> str:
    """One line: the first differing artifact (and how many), or why the rebuild failed."""
    if outcome.result["status"] == "rebuild failed":
        return f"the rebuild in a clean clone failed (exit {outcome.result['rebuild_exit_code']})"
    diffs = outcome.differences
    more = f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else ""
    return f"not reproducible: {diffs[0].line()}{more}"
