"""``kubectl`` deployer: server-side apply of pinned manifests, readiness, automatic rollback.

Rollback design: before applying, gopipe reads the live objects. When the rollout fails, every
workload whose pod template changed gets its *previous pod template* re-applied (server-side,
same field manager); the controller then scales the previous ReplicaSet/revision back up, which
is what ``kubectl rollout undo`` does, but to the exact template that was live before this
deploy. ``rollout undo`` would instead go to "revision N-1", which is wrong when this deploy did
not change the template or when another deploy happened in between, and it cannot restore
StatefulSets and DaemonSets the same way. Only pod templates roll back (as with ``rollout undo``):
ConfigMaps, Services and replica counts keep their new values. Objects this deploy created are
deleted (``delete_created``), except Namespaces, CRDs and volumes; or left in place and listed.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gopipe import hookimpl
from gopipe.context import ProviderContext
from gopipe.errors import StageFailed
from gopipe.types import Deployer

from .environments import Deployment, Target, run_environments
from .health import is_workload, wait_ready
from .image_pins import pin_images
from .kube import NEVER_DELETE, Kube, Obj, key_of, last_line, parse_json_stream, write_list
from .kubeconfig import Cluster, cluster_access, find_tool
from .options import KubectlOptions
from .render import manifest_dir, render
from .show import register_secret_data, show_diff, show_objects


def revision_of(obj: Mapping[str, Any]) -> str:
    """The revision a workload runs: Deployment revision, StatefulSet revision, DaemonSet generation."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    if obj.get("kind") == "Deployment":
        return str((meta.get("annotations") or {}).get("deployment.kubernetes.io/revision", "?"))
    if obj.get("kind") == "StatefulSet":
        return str(status.get("currentRevision") or status.get("updateRevision") or "?")
    return f"generation {meta.get('generation', '?')}"


def _template(obj: Mapping[str, Any]) -> Any:
    return (obj.get("spec") or {}).get("template")


def _clean_template(template: Any) -> Any:
    """A live pod template as apply input: without the server's null creationTimestamp."""
    template = copy.deepcopy(template)
    if isinstance(template, dict) and isinstance(template.get("metadata"), dict):
        template["metadata"].pop("creationTimestamp", None)
    return template


@dataclass
class Undo:
    summary: str = ""
    lines: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    revision: dict[str, str] = field(default_factory=dict)


def apply_args(opts: KubectlOptions) -> list[str]:
    return [
        "apply",
        "--server-side",
        f"--field-manager={opts.field_manager}",
        *(["--force-conflicts"] if opts.force_conflicts else []),
    ]


def undo(
    ctx: ProviderContext[KubectlOptions],
    kube: Kube,
    cluster: Cluster,
    rendered: dict[str, Obj],
    previous: dict[str, Obj],
) -> Undo:
    """Restore changed pod templates and remove created objects (see the module docstring)."""
    opts = ctx.options
    out = Undo()
    workdir = kube.access.workdir
    try:
        live = {
            key_of(o): o
            for o in kube.items(
                "get",
                "-f",
                str(write_list(workdir / "after.json", rendered.values())),
                "--ignore-not-found",
                what="read the objects after the failed deploy",
            )
        }
    except StageFailed as exc:
        out.summary = f"not rolled back: {exc.message}"
        return out
    restore = []
    for key, prev in previous.items():
        if is_workload(prev) and key in live and _template(live[key]) != _template(prev):
            obj = copy.deepcopy(rendered[key])
            obj["spec"]["template"] = _clean_template(_template(prev))
            restore.append(obj)
    words: list[str] = []
    if restore and not opts.rollback:
        words.append(
            f"rollback disabled: {', '.join(key_of(o).lower() for o in restore)} left at the failed revision"
        )
    elif restore:
        ctx.progress(f"rolling back {', '.join(key_of(o).lower() for o in restore)}")
        res = kube.run(
            "apply",
            "--server-side",
            f"--field-manager={opts.field_manager}",
            "--force-conflicts",
            "-f",
            str(write_list(workdir / "rollback.json", restore)),
        )
        names = ", ".join(
            f"{key_of(o).lower()} to revision {revision_of(previous[key_of(o)])}" for o in restore
        )
        if not res.ok:
            words.append(f"rollback FAILED: {last_line(res)}")
            out.lines.append(res.stderr)
        else:
            out.restored = [key_of(o) for o in restore]
            back = wait_ready(
                kube,
                restore,
                timeout=cluster.timeout,
                poll=cluster.poll_interval,
                fail_fast=False,
                label="rollback: ",
            )
            out.revision = {k: revision_of(o) for k, o in back.live.items()}
            words.append(
                f"rolled back {names}"
                + (" (ready again)" if back.ok else f", but it is not ready: {back.message}")
            )
            if not back.ok:
                out.lines += ["rollback:", *back.details]
    created = [o for k, o in rendered.items() if k not in previous and k in live]
    deletable = [o for o in created if o.get("kind") not in NEVER_DELETE]
    kept = [key_of(o) for o in created if o.get("kind") in NEVER_DELETE]
    if deletable and opts.delete_created:
        res = kube.run(
            "delete",
            "--ignore-not-found",
            "--wait=false",
            "-f",
            str(write_list(workdir / "created.json", deletable)),
        )
        if res.ok:
            out.deleted = [key_of(o) for o in deletable]
            words.append(f"deleted what this deploy created ({', '.join(out.deleted)})")
        else:
            words.append(f"could not delete what this deploy created: {last_line(res)}")
            kept += [key_of(o) for o in deletable]
    elif deletable:
        kept += [key_of(o) for o in deletable]
    if kept:
        words.append(f"left new objects in place ({', '.join(kept)})")
    out.summary = "; ".join(words) or "nothing to roll back (no pod template had changed)"
    return out


def deploy(ctx: ProviderContext[KubectlOptions], target: Target, record: Deployment) -> None:
    opts = ctx.options
    cluster = Cluster.of(opts, target.env)
    kubectl = find_tool(ctx, opts.kubectl, "kubectl")
    rel = target.env.manifests or opts.manifests
    key = (
        f"{target.table[1:-1]}.manifests"
        if target.env.manifests
        else f"tool.gopipe.deploy.{ctx.provider}.manifests"
    )
    source = manifest_dir(ctx, rel, key)
    with cluster_access(ctx, cluster, kubectl) as access:
        kube = Kube(ctx, kubectl, access)
        record.namespace, record.context, record.cluster = access.namespace, access.context, access.server
        ctx.progress(f"{target.name}: rendering {rel}")
        objects, how = render(ctx, kube, source, opts.kustomize)
        register_secret_data(ctx, objects)
        pinned = pin_images(ctx, objects, opts.images, rel)
        record.images = {r.artifact: r.new for r in pinned}
        record.objects = [key_of(o) for o in objects]
        manifest = write_list(access.workdir / "rendered.json", objects)
        where = f"{access.namespace}" + (f" ({access.context})" if access.context else "")
        if ctx.args.dry_run:
            show_objects(
                ctx,
                kube,
                objects,
                target.name,
                f"{target.name}: {len(objects)} objects rendered from {rel} ({how}) for {where}",
            )
            record.changed = show_diff(ctx, kube, manifest, target.name, opts.field_manager)
            record.outcome = "dry-run"
            record.summary = (
                f"dry run of {target.name}: {len(objects)} objects, {record.changed} would change"
            )
            return
        started = time.monotonic()
        previous = {
            key_of(o): o
            for o in kube.items(
                "get", "-f", str(manifest), "--ignore-not-found", what="read the current objects"
            )
        }
        record.previous_revision = {k: revision_of(o) for k, o in previous.items() if is_workload(o)}
        ctx.progress(f"{target.name}: applying {len(objects)} objects to {where}")
        res = kube.run(*apply_args(opts), "-f", str(manifest), "-o", "json")
        workloads = [o for o in objects if is_workload(o)]
        details: list[str] = []
        if res.ok:
            applied = {key_of(o): o for o in parse_json_stream(res.stdout)}
            result = wait_ready(
                kube,
                [applied.get(key_of(w), w) for w in workloads],
                timeout=cluster.timeout,
                poll=cluster.poll_interval,
                fail_fast=opts.fail_fast,
                label=f"{target.name}: ",
            )
            if result.ok:
                record.revision = {k: revision_of(o) for k, o in result.live.items()}
                record.outcome = "success"
                record.summary = (
                    f"{target.name}: {len(objects)} objects applied to {where}, "
                    f"{len(workloads)} workload{'s' * (len(workloads) != 1)} ready in "
                    f"{time.monotonic() - started:.0f}s"
                )
                ctx.log(result.message)
                return
            failure, details = result.message, result.details
        else:
            failure = f"kubectl apply failed: {last_line(res)}"
            details = [res.stderr]
        for line in details:
            ctx.log(line)
        rendered = {key_of(o): o for o in objects}
        done = undo(ctx, kube, cluster, rendered, previous)
        record.rollback = done.summary
        record.revision = done.revision
        record.outcome = "rolled-back" if done.restored or done.deleted else "failed"
        record.reason = failure
        raise StageFailed(
            f"{target.name}: {failure}; {done.summary}",
            details="\n".join([failure, *details, done.summary, *done.lines]),
        )


def run(ctx: ProviderContext[KubectlOptions]) -> None:
    run_environments(ctx, lambda target, record: deploy(ctx, target, record))


@hookimpl
def gopipe_deployers() -> list[Deployer[KubectlOptions]]:
    return [
        Deployer(
            name="kubectl",
            run=run,
            options=KubectlOptions,
            description="kubectl server-side apply (manifests or kustomize) pinned to pushed "
            "digests; waits for readiness, rolls back on failure",
        )
    ]
