"""``flagger`` deployer: pin the Canary's target workload images, then follow the analysis.

Flagger starts a canary release when the target Deployment's (or DaemonSet's) pod template
changes. gopipe makes that change, waits until the Canary leaves the phase it was in before
(or ``status.lastAppliedSpec`` changes, which catches an analysis that finished between two
reads, or a running one that Flagger restarted for the new revision), then follows it:
``Succeeded`` is success, ``Failed`` is failure. Waiting, WaitingPromotion, Progressing,
Promoting and Finalising mean keep waiting.

On ``Failed`` Flagger has already rolled back (traffic to the primary, canary scaled to zero).
There is no abort switch in Flagger's API, so on a timeout gopipe reports the phase, weight and
failed checks and leaves the analysis running.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from gopipe import hookimpl
from gopipe.context import ProviderContext
from gopipe.errors import StageFailed
from gopipe.types import Deployer

from .environments import Deployment, Target, run_environments
from .kube import Kube, conditions
from .kubeconfig import Cluster, cluster_access, find_tool
from .options import FlaggerOptions
from .progressive import apply_patch, image_patch, show_plan, status_of

RESOURCE = "canaries.flagger.app"
_TARGET_KINDS = {"Deployment": "deployments.apps", "DaemonSet": "daemonsets.apps"}


def canary_state(canary: Mapping[str, Any]) -> str:
    """``phase (weight N%, failed checks M): condition message`` for messages."""
    status = status_of(canary)
    promoted = conditions(canary).get("Promoted") or {}
    text = (
        f"{status.get('phase') or 'no phase'} (weight {status.get('canaryWeight', 0)}%, "
        f"failed checks {status.get('failedChecks', 0)})"
    )
    message = str(promoted.get("message") or "").strip()
    return f"{text}: {message}" if message else text


def _target(kube: Kube, canary: Mapping[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    ref = (canary.get("spec") or {}).get("targetRef") or {}
    kind, target_name = str(ref.get("kind") or ""), str(ref.get("name") or "")
    if kind not in _TARGET_KINDS or not target_name:
        raise StageFailed(
            f"Canary {name}: targetRef {kind or '?'}/{target_name or '?'} is not a Deployment or DaemonSet"
        )
    obj = kube.get(_TARGET_KINDS[kind], target_name, what=f"read {kind} {target_name}")
    if obj is None:
        raise StageFailed(f"Canary {name}: its target {kind} {target_name} does not exist")
    return f"{_TARGET_KINDS[kind]}/{target_name}", obj


def deploy(ctx: ProviderContext[FlaggerOptions], target: Target, record: Deployment) -> None:
    opts = ctx.options
    cluster = Cluster.of(opts, target.env)
    kubectl = find_tool(ctx, opts.kubectl, "kubectl")
    name = ctx.render(opts.canary, key="canary")
    with cluster_access(ctx, cluster, kubectl) as access:
        kube = Kube(ctx, kubectl, access)
        record.namespace, record.context, record.cluster = access.namespace, access.context, access.server
        canary = kube.get(RESOURCE, name, what=f"read Canary {name}")
        if canary is None:
            raise StageFailed(
                f"Canary {name} not found in namespace {access.namespace} (is the Flagger "
                "CRD installed and the Canary applied?)"
            )
        resource, workload = _target(kube, canary, name)
        shown = f"{workload['kind']}/{workload['metadata']['name']}"
        record.objects = [f"Canary/{name}", shown]
        before = status_of(canary)
        prev_phase, prev_spec = before.get("phase"), before.get("lastAppliedSpec")
        record.previous_revision = {f"Canary/{name}": str(before.get("lastPromotedSpec") or prev_spec or "?")}
        patch = image_patch(ctx, workload, f"{shown} (target of Canary {name})")
        record.images = {r.artifact: r.new for r in patch.pinned}
        if ctx.args.dry_run:
            show_plan(ctx, target.name, resource, patch)
            record.changed = 1 if patch.ops else 0
            record.outcome = "dry-run"
            verb = "would change" if patch.ops else "would not change"
            record.summary = f"dry run of {target.name}: {shown} {verb}"
            return
        started = time.monotonic()
        if not patch.ops:
            if prev_phase == "Failed":
                raise StageFailed(
                    f"{target.name}: {shown} already runs the pushed images, but Canary "
                    f"{name} is {canary_state(canary)}"
                )
            record.outcome = "success"
            record.summary = f"{target.name}: {shown} already runs the pushed images (Canary {prev_phase})"
            return
        apply_patch(kube, resource, patch)
        deadline = started + cluster.timeout
        begun = False
        live: Mapping[str, Any] = canary
        while True:
            got = kube.get(RESOURCE, name, what=f"read Canary {name}", quiet=True)
            if got is None:
                raise StageFailed(f"{target.name}: Canary {name} was deleted during the analysis")
            live = got
            status = status_of(live)
            phase = status.get("phase")
            begun = begun or phase != prev_phase or status.get("lastAppliedSpec") != prev_spec
            if begun and phase == "Succeeded":
                record.outcome = "success"
                record.revision = {f"Canary/{name}": str(status.get("lastPromotedSpec") or "?")}
                record.summary = (
                    f"{target.name}: Canary {name} Succeeded in {time.monotonic() - started:.0f}s"
                )
                return
            if begun and phase == "Failed":
                record.outcome = "failed"
                record.rollback = f"Flagger rolled back: the primary of {shown} keeps serving"
                record.revision = {f"Canary/{name}": str(status.get("lastPromotedSpec") or "?")}
                raise StageFailed(
                    f"{target.name}: Canary {name} failed: {canary_state(live)}; {record.rollback}",
                    details=f"status: {dict(status)}",
                )
            if time.monotonic() >= deadline or ctx.tracker.cancelled.is_set():
                break
            ctx.progress(
                f"{target.name}: Canary {name}: "
                + (canary_state(live) if begun else f"waiting for Flagger to start ({phase})")
            )
            ctx.tracker.cancelled.wait(cluster.poll_interval)
        state = canary_state(live)
        why = (
            f"Flagger did not start an analysis within {cluster.timeout:.0f}s (still {state})"
            if not begun
            else f"Canary {name} not finished after {cluster.timeout:.0f}s: {state}"
        )
        record.rollback = "Flagger has no abort; the analysis continues on its own"
        raise StageFailed(
            f"{target.name}: {why}; {record.rollback}", details=f"status: {dict(status_of(live))}"
        )


def run(ctx: ProviderContext[FlaggerOptions]) -> None:
    run_environments(ctx, lambda target, record: deploy(ctx, target, record))


@hookimpl
def gopipe_deployers() -> list[Deployer[FlaggerOptions]]:
    return [
        Deployer(
            name="flagger",
            run=run,
            options=FlaggerOptions,
            description="Flagger: pin the Canary target's images, follow the analysis to Succeeded or Failed",
        )
    ]
