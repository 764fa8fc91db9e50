"""Is a rollout healthy, and if not, why: the part of a deploy people actually need.

Readiness follows ``kubectl rollout status`` (observedGeneration first, then updated and
available replicas; StatefulSet revisions and partitions; DaemonSet scheduling), plus the
Deployment ``ProgressDeadlineExceeded`` condition as an early failure. With ``fail_fast``,
new pods stuck in CrashLoopBackOff, ImagePullBackOff and similar end the wait at once instead
of at the timeout. When a rollout fails, :func:`diagnose` names the object and the reason:
pod phase and false conditions, container waiting/terminated reasons and recent Warning events.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gopipe.errors import StageFailed

from .kube import Kube, Obj, conditions, group_of, key_of, resource_of, selector_matches

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
# Container waiting reasons that do not fix themselves by waiting longer.
FATAL_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
_POD_CHECK_EVERY_S = 3.0
_MAX_EVENTS = 6


def is_workload(obj: Mapping[str, Any]) -> bool:
    return obj.get("kind") in WORKLOAD_KINDS and group_of(obj) == "apps"


@dataclass(frozen=True)
class Health:
    state: Literal["ready", "waiting", "failed"]
    message: str


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def workload_health(obj: Mapping[str, Any]) -> Health:
    """Readiness of one Deployment/StatefulSet/DaemonSet, as ``kubectl rollout status`` sees it."""
    kind = obj.get("kind")
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    if _int(status.get("observedGeneration"), -1) < _int(meta.get("generation")):
        return Health("waiting", "waiting for the controller to observe the new spec")
    if kind == "Deployment":
        progressing = conditions(obj).get("Progressing") or {}
        if progressing.get("reason") == "ProgressDeadlineExceeded":
            return Health(
                "failed",
                f"exceeded its progress deadline "
                f"({spec.get('progressDeadlineSeconds', 600)}s): "
                f"{progressing.get('message', '')}".rstrip(": "),
            )
        want = _int(spec.get("replicas"), 1)
        updated, total = _int(status.get("updatedReplicas")), _int(status.get("replicas"))
        available = _int(status.get("availableReplicas"))
        if updated < want:
            return Health("waiting", f"{updated} of {want} replicas updated")
        if total > updated:
            return Health("waiting", f"{total - updated} old replicas pending termination")
        if available < updated:
            return Health("waiting", f"{available} of {updated} updated replicas available")
        return Health("ready", f"{available}/{want} available")
    if kind == "StatefulSet":
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete":
            return Health("ready", "updateStrategy OnDelete: pods change only when deleted")
        want = _int(spec.get("replicas"), 1)
        ready = _int(status.get("readyReplicas"))
        if ready < want:
            return Health("waiting", f"{ready} of {want} pods ready")
        partition = _int((strategy.get("rollingUpdate") or {}).get("partition"))
        if partition > 0:
            updated = _int(status.get("updatedReplicas"))
            if updated < want - partition:
                return Health("waiting", f"{updated} of {want - partition} partitioned pods updated")
            return Health("ready", f"{ready}/{want} ready (partition {partition})")
        if status.get("updateRevision") != status.get("currentRevision"):
            return Health("waiting", f"{_int(status.get('updatedReplicas'))} of {want} pods updated")
        return Health("ready", f"{ready}/{want} ready")
    if kind == "DaemonSet":
        if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
            return Health("ready", "updateStrategy OnDelete: pods change only when deleted")
        want = _int(status.get("desiredNumberScheduled"))
        updated, available = _int(status.get("updatedNumberScheduled")), _int(status.get("numberAvailable"))
        if updated < want:
            return Health("waiting", f"{updated} of {want} pods updated")
        if available < want:
            return Health("waiting", f"{available} of {want} updated pods available")
        return Health("ready", f"{available}/{want} available")
    return Health("ready", "not a workload")


# -- why a rollout is not healthy --------------------------------------------------------------
@dataclass
class Snapshot:
    """Pods, ReplicaSets and events of a namespace, read once for a diagnosis."""

    pods: list[Obj] = field(default_factory=list)
    replicasets: list[Obj] = field(default_factory=list)
    events: list[Obj] = field(default_factory=list)

    @classmethod
    def read(cls, kube: Kube, *, events: bool = True, quiet: bool = True) -> Snapshot:
        def items(*args: str) -> list[Obj]:
            try:
                return kube.items("get", *args, what=f"list {args[0]}", quiet=quiet)
            except StageFailed:
                return []  # a diagnosis must never hide the failure it explains

        return cls(
            pods=items("pods"), replicasets=items("replicasets"), events=items("events") if events else []
        )


def current_pods(workload: Mapping[str, Any], snap: Snapshot) -> list[Obj]:
    """Pods of the workload's newest revision (all of its pods when that is unknown)."""
    selector = (workload.get("spec") or {}).get("selector")
    uid = (workload.get("metadata") or {}).get("uid")
    pods = [p for p in snap.pods if selector_matches(selector, (p.get("metadata") or {}).get("labels") or {})]
    kind, status = workload.get("kind"), workload.get("status") or {}
    if kind == "Deployment":
        owned = [
            rs
            for rs in snap.replicasets
            if any(o.get("uid") == uid for o in (rs.get("metadata") or {}).get("ownerReferences") or [])
        ]
        if owned:
            newest = max(
                owned,
                key=lambda rs: _int(
                    ((rs.get("metadata") or {}).get("annotations") or {}).get(
                        "deployment.kubernetes.io/revision"
                    )
                ),
            )
            label = ((newest.get("metadata") or {}).get("labels") or {}).get("pod-template-hash")
            if label:
                return [
                    p for p in pods if (p["metadata"].get("labels") or {}).get("pod-template-hash") == label
                ]
    if kind == "StatefulSet" and status.get("updateRevision"):
        rev = status["updateRevision"]
        return [p for p in pods if (p["metadata"].get("labels") or {}).get("controller-revision-hash") == rev]
    return pods


def pod_ready(pod: Mapping[str, Any]) -> bool:
    return (conditions(pod).get("Ready") or {}).get("status") == "True"


def fatal_reason(pods: Sequence[Mapping[str, Any]]) -> str | None:
    """The first container problem that waiting will not fix, as ``pod/x: container y …``."""
    for pod in pods:
        status = pod.get("status") or {}
        for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in FATAL_WAITING:
                return (
                    f"pod/{pod['metadata']['name']}: container {cs.get('name')} "
                    f"{waiting['reason']}: {waiting.get('message', '')}"
                ).rstrip(": ")
    return None


def describe_pod(pod: Mapping[str, Any]) -> list[str]:
    """Why one pod is not ready, in a few lines."""
    name = f"pod/{pod['metadata']['name']}"
    status = pod.get("status") or {}
    out = []
    false = [
        f"{t}=False ({c.get('reason') or '-'}: {c.get('message') or '-'})"
        for t, c in conditions(pod).items()
        if c.get("status") == "False"
    ]
    out.append(f"{name}: {status.get('phase', 'Unknown')}" + (f", {'; '.join(false)}" if false else ""))
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        last = (cs.get("lastState") or {}).get("terminated")
        if waiting:
            out.append(
                f"  container {cs.get('name')} waiting: {waiting.get('reason')}"
                + (f" ({waiting['message']})" if waiting.get("message") else "")
            )
        elif terminated:
            out.append(
                f"  container {cs.get('name')} terminated: {terminated.get('reason')} "
                f"(exit {terminated.get('exitCode')})"
            )
        elif not cs.get("ready"):
            out.append(
                f"  container {cs.get('name')} running but not ready (restarts {cs.get('restartCount', 0)})"
            )
        if last:
            out.append(
                f"  container {cs.get('name')} last exit {last.get('exitCode')} ({last.get('reason')})"
            )
    return out


def diagnose(workload: Mapping[str, Any], snap: Snapshot) -> list[str]:
    """Lines explaining why ``workload`` is not healthy: its pods first, then Warning events."""
    lines: list[str] = []
    pods = current_pods(workload, snap)
    unready = [p for p in pods if not pod_ready(p)]
    if not pods:
        lines.append(f"{key_of(workload)}: no pods of the new revision exist")
    for pod in unready[:3]:
        lines += describe_pod(pod)
    if len(unready) > 3:
        lines.append(f"… and {len(unready) - 3} more unready pods")
    names = {workload["metadata"]["name"], *(p["metadata"]["name"] for p in pods)}
    names |= {
        rs["metadata"]["name"]
        for rs in snap.replicasets
        if any(
            o.get("uid") == workload["metadata"].get("uid")
            for o in rs["metadata"].get("ownerReferences") or []
        )
    }
    warnings = [
        e
        for e in snap.events
        if e.get("type") == "Warning" and (e.get("involvedObject") or {}).get("name") in names
    ]
    warnings.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    for e in warnings[-_MAX_EVENTS:]:
        obj = e.get("involvedObject") or {}
        count = f" (x{e['count']})" if _int(e.get("count")) > 1 else ""
        lines.append(
            f"event {e.get('reason')} on {str(obj.get('kind', '')).lower()}/{obj.get('name')}: "
            f"{e.get('message', '').strip()}{count}"
        )
    return lines


def headline(workload: Mapping[str, Any], snap: Snapshot) -> str:
    """The single most useful reason, for the one-line failure message."""
    pods = [p for p in current_pods(workload, snap) if not pod_ready(p)]
    fatal = fatal_reason(pods)
    if fatal:
        return fatal
    for pod in pods:
        for t, c in conditions(pod).items():
            if c.get("status") == "False" and (c.get("reason") or c.get("message")):
                return (
                    f"pod/{pod['metadata']['name']} {t}=False: {c.get('reason') or ''} "
                    f"{c.get('message') or ''}".strip()
                )
    return ""


def explain(kube: Kube, workloads: Sequence[Mapping[str, Any]]) -> tuple[str, list[str]]:
    """After a failure someone else detected (helm): the first unhealthy workload and why."""
    if not workloads:
        return "", []
    try:
        live = kube.items(
            "get",
            *(resource_of(w) for w in workloads),
            "--ignore-not-found",
            what="read rollout status",
            quiet=True,
        )
    except StageFailed:
        return "", []
    snap: Snapshot | None = None
    for obj in live:
        health = workload_health(obj)
        if health.state != "ready":
            snap = snap or Snapshot.read(kube)
            reason = headline(obj, snap)
            return (
                f"{key_of(obj).lower()} {health.message}" + (f"; {reason}" if reason else ""),
                diagnose(obj, snap),
            )
    return "", []


# -- waiting ---------------------------------------------------------------------------------
@dataclass
class WaitResult:
    ok: bool
    message: str = ""  # one line: which object failed and why
    details: list[str] = field(default_factory=list)
    failed: str | None = None  # Kind/name of the object that failed
    live: dict[str, Obj] = field(default_factory=dict)  # last state read, by Kind/name


def wait_ready(
    kube: Kube,
    workloads: Sequence[Mapping[str, Any]],
    *,
    timeout: float,
    poll: float,
    fail_fast: bool,
    label: str = "",
) -> WaitResult:
    """Poll until every workload is ready, one fails, a pod is fatally stuck, or time runs out."""
    ctx = kube.ctx
    if not workloads:
        return WaitResult(True, "no workloads to wait for")
    resources = [resource_of(w) for w in workloads]
    start = time.monotonic()
    deadline = start + timeout
    next_pod_check = start + _POD_CHECK_EVERY_S
    live: dict[str, Obj] = {}
    while True:
        try:
            live = {
                key_of(o): o
                for o in kube.items(
                    "get", *resources, "--ignore-not-found", what="read rollout status", quiet=True
                )
            }
        except StageFailed as exc:
            return WaitResult(False, exc.message, [exc.details], None, live)
        health = {
            k: workload_health(live[k]) if k in live else Health("failed", "object was deleted")
            for k in (key_of(w) for w in workloads)
        }
        failed = next((k for k, h in health.items() if h.state == "failed"), None)
        waiting = [k for k, h in health.items() if h.state == "waiting"]
        now = time.monotonic()
        if failed is None and not waiting:
            return WaitResult(
                True, ", ".join(f"{k.lower()} ready ({h.message})" for k, h in health.items()), live=live
            )
        if failed is None and fail_fast and now >= next_pod_check:
            next_pod_check = now + _POD_CHECK_EVERY_S
            snap = Snapshot.read(kube, events=False)
            for k in waiting:
                if k in live and fatal_reason([p for p in current_pods(live[k], snap) if not pod_ready(p)]):
                    failed = k
                    break
        cancelled = ctx.tracker.cancelled.is_set()
        if failed is not None or now >= deadline or cancelled:
            culprit = failed or waiting[0]
            obj = live.get(culprit)
            why = health[culprit].message
            if failed is None:
                why = ("cancelled" if cancelled else f"not ready after {timeout:.0f}s") + f": {why}"
            if obj is None:
                return WaitResult(False, f"{culprit.lower()} {why}", [], culprit, live)
            snap = Snapshot.read(kube)
            reason = headline(obj, snap)
            message = f"{culprit.lower()} {why}" + (f"; {reason}" if reason else "")
            return WaitResult(False, message, diagnose(obj, snap), culprit, live)
        ready = len(health) - len(waiting)
        first = waiting[0]
        ctx.progress(f"{label}{ready}/{len(health)} ready; {first.lower()}: {health[first].message}")
        ctx.tracker.cancelled.wait(poll)
