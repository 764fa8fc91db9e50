"""``argo-rollouts`` deployer: pin a Rollout's pod template images, then follow its status.

The Argo Rollouts controller owns the release (canary steps, analysis, traffic); gopipe starts
it by patching ``spec.template`` and reads ``status``:

- the status is trusted only once ``status.observedGeneration`` (a string) equals
  ``metadata.generation`` - before that it describes the previous release;
- ``Healthy`` is success; ``Paused`` and ``Progressing`` mean keep waiting;
- ``Degraded``, ``status.abort: true``, a ``Progressing`` condition with reason
  ``ProgressDeadlineExceeded`` or ``InvalidSpec`` are failures.

On failure or timeout gopipe aborts the rollout the way ``kubectl argo rollouts abort`` does
(merge patch ``{"status": {"abort": true}}`` on the status subresource, falling back to the
object when that subresource is missing); the controller then sends all traffic back to the
stable ReplicaSet. ``spec.template`` keeps the new image until the next deploy or an undo, as
with the plugin's own abort.
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
from .health import Health
from .kube import Kube, conditions, last_line
from .kubeconfig import Cluster, cluster_access, find_tool
from .options import ArgoRolloutsOptions
from .progressive import apply_patch, image_patch, show_plan, status_of

RESOURCE = "rollouts.argoproj.io"


def rollout_health(ro: Mapping[str, Any], generation: int) -> Health:
    """The Rollout's state for ``generation``, from the status the controller wrote."""
    status = status_of(ro)
    observed = str(status.get("observedGeneration", ""))
    if observed != str(generation):
        return Health(
            "waiting",
            f"controller has not observed generation {generation} yet (observed: {observed or 'none'})",
        )
    message = str(status.get("message") or "").strip()
    if status.get("abort"):
        return Health("failed", "rollout was aborted" + (f": {message}" if message else ""))
    conds = conditions(ro)
    progressing = conds.get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health("failed", f"ProgressDeadlineExceeded: {progressing.get('message', '')}".rstrip(": "))
    invalid = conds.get("InvalidSpec") or {}
    if invalid.get("status") == "True":
        return Health("failed", f"InvalidSpec: {invalid.get('message', '')}".rstrip(": "))
    phase = str(status.get("phase") or "")
    if phase == "Healthy":
        return Health("ready", "Healthy")
    if phase == "Degraded":
        return Health("failed", "Degraded" + (f": {message}" if message else ""))
    if phase == "Paused":
        reasons = ", ".join(str(p.get("reason")) for p in status.get("pauseConditions") or [])
        step = status.get("currentStepIndex")
        return Health(
            "waiting",
            f"Paused{f' at step {step}' if step is not None else ''}" + (f" ({reasons})" if reasons else ""),
        )
    return Health("waiting", (phase or "no phase yet") + (f": {message}" if message else ""))


def abort(kube: Kube, name: str) -> str:
    """Abort like ``kubectl argo rollouts abort``: status subresource first, then the object."""
    patch = {"status": {"abort": True}}
    res = kube.patch(f"{RESOURCE}/{name}", patch, kind="merge", subresource="status")
    if not res.ok and "NotFound" in res.stderr + res.stdout:
        res = kube.patch(f"{RESOURCE}/{name}", patch, kind="merge")
    return "aborted" if res.ok else f"abort FAILED: {last_line(res)}"


def deploy(ctx: ProviderContext[ArgoRolloutsOptions], target: Target, record: Deployment) -> None:
    opts = ctx.options
    cluster = Cluster.of(opts, target.env)
    kubectl = find_tool(ctx, opts.kubectl, "kubectl")
    name = ctx.render(opts.rollout, key="rollout")
    resource = f"{RESOURCE}/{name}"
    with cluster_access(ctx, cluster, kubectl) as access:
        kube = Kube(ctx, kubectl, access)
        record.namespace, record.context, record.cluster = access.namespace, access.context, access.server
        record.objects = [f"Rollout/{name}"]
        ro = kube.get(RESOURCE, name, what=f"read Rollout {name}")
        if ro is None:
            raise StageFailed(
                f"Rollout {name} not found in namespace {access.namespace} (is the Argo "
                "Rollouts CRD installed and the Rollout applied?)"
            )
        if (ro.get("spec") or {}).get("workloadRef"):
            raise StageFailed(
                f"Rollout {name} uses spec.workloadRef; gopipe updates Rollouts with their "
                "own spec.template only (deploy the referenced Deployment with kubectl)"
            )
        status = status_of(ro)
        record.previous_revision = {
            f"Rollout/{name}": str(status.get("stableRS") or status.get("currentPodHash") or "?")
        }
        patch = image_patch(ctx, ro, f"Rollout {name}")
        record.images = {r.artifact: r.new for r in patch.pinned}
        if ctx.args.dry_run:
            show_plan(ctx, target.name, resource, patch)
            record.changed = 1 if patch.ops else 0
            record.outcome = "dry-run"
            verb = "would change" if patch.ops else "would not change"
            record.summary = f"dry run of {target.name}: Rollout {name} {verb}"
            return
        started = time.monotonic()
        if patch.ops:
            ro = apply_patch(kube, resource, patch)
        else:
            ctx.log(f"Rollout {name} already runs the pushed images; checking its health")
        generation = int((ro.get("metadata") or {}).get("generation") or 0)
        deadline = started + cluster.timeout
        health = Health("waiting", "")
        while True:
            live = kube.get(RESOURCE, name, what=f"read Rollout {name}", quiet=True)
            if live is None:
                raise StageFailed(f"{target.name}: Rollout {name} was deleted during the rollout")
            health = rollout_health(live, generation)
            status = status_of(live)
            if health.state == "ready":
                record.outcome = "success"
                record.revision = {f"Rollout/{name}": str(status.get("stableRS") or "?")}
                record.summary = (
                    f"{target.name}: Rollout {name} Healthy at generation {generation} in "
                    f"{time.monotonic() - started:.0f}s"
                )
                return
            cancelled = ctx.tracker.cancelled.is_set()
            if health.state == "failed" or time.monotonic() >= deadline or cancelled:
                break
            ctx.progress(f"{target.name}: Rollout {name}: {health.message}")
            ctx.tracker.cancelled.wait(cluster.poll_interval)
        if health.state == "failed":
            failure = f"Rollout {name} failed: {health.message}"
        else:
            failure = (
                f"Rollout {name} not Healthy after {cluster.timeout:.0f}s"
                f"{' (cancelled)' if ctx.tracker.cancelled.is_set() else ''}: {health.message}"
            )
        already = bool(status.get("abort")) and str(status.get("observedGeneration")) == str(generation)
        stable = status.get("stableRS") or "the stable ReplicaSet"
        if already:
            record.outcome = "aborted"
            record.rollback = f"the rollout was aborted by its controller; {stable} keeps serving"
        elif opts.abort:
            done = abort(kube, name)
            record.outcome = "aborted" if done == "aborted" else "failed"
            record.rollback = (
                f"aborted Rollout {name}: the controller returns traffic to {stable}; "
                "spec.template keeps the new image until the next deploy"
                if done == "aborted"
                else done
            )
        else:
            record.rollback = f"abort = false: Rollout {name} left as it is"
        record.reason = failure
        record.revision = {f"Rollout/{name}": str(status.get("stableRS") or "?")}
        raise StageFailed(
            f"{target.name}: {failure}; {record.rollback}",
            details=f"{failure}\nstatus: {dict(status)}\n{record.rollback}",
        )


def run(ctx: ProviderContext[ArgoRolloutsOptions]) -> None:
    run_environments(ctx, lambda target, record: deploy(ctx, target, record))


@hookimpl
def gopipe_deployers() -> list[Deployer[ArgoRolloutsOptions]]:
    return [
        Deployer(
            name="argo-rollouts",
            run=run,
            options=ArgoRolloutsOptions,
            description="Argo Rollouts: pin the Rollout's images, follow status.phase to "
            "Healthy, abort on failure",
        )
    ]
