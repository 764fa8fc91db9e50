"""``helm`` deployer: ``helm upgrade --install`` with the pushed image's repository and digest.

The image goes in through two configurable values paths (``image.repository``,
``image.digest``) as ``--set-string``, so any chart that renders ``repo@digest`` works.

``atomic`` keeps helm's ``--atomic`` semantics (a failed upgrade rolls back to the last deployed
revision; a failed first install is uninstalled), but gopipe performs the rollback itself after
``--wait`` fails: with helm's own ``--atomic`` the failing pods are gone before anyone can say
why they failed. After helm reports success, gopipe also checks the release's workloads with the
same readiness rules as the kubectl deployer (helm's wait accepts a Deployment with
``maxUnavailable`` pods still unready). Dry runs use ``helm template`` plus ``kubectl diff``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gopipe import hookimpl
from gopipe.context import ProviderContext
from gopipe.errors import StageFailed
from gopipe.types import Deployer

from .chart_source import chart_source, check
from .environments import Deployment, Target, run_environments
from .health import explain, is_workload, wait_ready
from .image_pins import ImageRef, uploaded_images
from .kube import Kube, Obj, key_of, last_line, parse_json_stream
from .kubeconfig import Cluster, cluster_access, find_tool
from .options import HelmOptions
from .show import show_diff, show_objects


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Values tables merged the way helm merges values files: maps recursively, the rest replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def pick_image(ctx: ProviderContext[HelmOptions], release: str) -> ImageRef:
    """The one pushed image this release deploys (``image`` option, the only one, or by name)."""
    wanted = ctx.options.image
    refs = uploaded_images(ctx)
    option = f"tool.gopipe.deploy.{ctx.provider}.image"
    if wanted:
        found = [r for r in refs if wanted in (r.name, r.repository)]
    elif len({r.reference for r in refs}) == 1:
        found = refs[:1]
    else:
        found = [r for r in refs if release in (r.name, r.repository.rsplit("/", 1)[-1])]
    distinct = {r.reference: r for r in found}
    recorded = ", ".join(f"{r.name} ({r.reference})" for r in refs) or "none"
    if len(distinct) == 1:
        return next(iter(distinct.values()))
    if not distinct:
        hint = (
            f"set {option}"
            if refs
            else "the upload stage recorded no image-ref artifacts: configure [tool.gopipe.upload] providers"
        )
        raise StageFailed(f"no pushed image for release {release} (recorded: {recorded}); {hint}")
    raise StageFailed(
        f"several pushed images could be release {release}'s ({', '.join(sorted(distinct))}); "
        f"set {option} to an image name or repository"
    )


class Helm:
    """helm bound to one cluster, context and namespace."""

    def __init__(self, ctx: ProviderContext[HelmOptions], helm: str, kube: Kube) -> None:
        self.ctx, self.helm, self.kube = ctx, helm, kube
        access = kube.access
        self.base = [helm, *access.helm_flags(), "--namespace", access.namespace]

    def run(self, *args: str, timeout: float | None = 300.0) -> Any:
        return self.ctx.sh([*self.base, *args], timeout=timeout)

    def history(self, release: str) -> list[dict[str, Any]]:
        res = self.run("history", release, "--max", "50", "-o", "json")
        if res.ok:
            return list(json.loads(res.stdout or "[]"))
        if "not found" in res.stderr:
            return []
        raise StageFailed(f"helm history {release} failed: {last_line(res)}", details=res.stderr)

    def manifest_objects(self, release: str) -> list[Obj]:
        """The release's objects as the cluster has them now (helm prints YAML; kubectl reads it)."""
        res = self.run("get", "manifest", release)
        if not res.ok or not res.stdout.strip():
            return []
        path = self.kube.access.workdir / "release.yaml"
        path.write_text(res.stdout, encoding="utf-8")
        try:
            return self.kube.items(
                "get",
                "-f",
                str(path),
                "--ignore-not-found",
                what=f"read release {release}'s objects",
                quiet=True,
            )
        except StageFailed:
            return []


def deploy(ctx: ProviderContext[HelmOptions], target: Target, record: Deployment) -> None:
    opts = ctx.options
    cluster = Cluster.of(opts, target.env)
    kubectl = find_tool(ctx, opts.kubectl, "kubectl")
    helm_bin = find_tool(ctx, opts.helm, "helm")
    release = ctx.render(opts.release, key="release")
    image = pick_image(ctx, release)
    record.images = {image.name: image.reference}
    with cluster_access(ctx, cluster, kubectl) as access:
        kube = Kube(ctx, kubectl, access)
        helm = Helm(ctx, helm_bin, kube)
        record.namespace, record.context, record.cluster = access.namespace, access.context, access.server
        source = chart_source(ctx, access.workdir)
        chart, chart_flags = source.argument, source.flags
        record.chart = source.reference
        values_file = access.workdir / "values.json"
        values_file.write_text(json.dumps(deep_merge(opts.values, target.env.values)), encoding="utf-8")
        value_args = [
            a
            for i, f in enumerate(opts.values_files)
            for a in ("-f", str(ctx.repo_path(f, f"values_files[{i}]")))
        ]
        value_args += [
            "-f",
            str(values_file),
            "--set-string",
            f"{opts.repository_value}={image.repository}",
            "--set-string",
            f"{opts.digest_value}={image.digest}",
        ]
        ctx.log(
            f"release {release}: {opts.repository_value}={image.repository} "
            f"{opts.digest_value}={image.digest}"
        )
        where = f"{access.namespace}" + (f" ({access.context})" if access.context else "")
        if ctx.args.dry_run:
            res = helm.run("template", release, chart, *chart_flags, *value_args)
            if not res.ok:
                raise StageFailed(f"helm template {release} failed: {last_line(res)}", details=res.stderr)
            rendered = access.workdir / "template.yaml"
            rendered.write_text(res.stdout, encoding="utf-8")
            objects = _objects(kube, rendered)
            record.objects = [key_of(o) for o in objects]
            show_objects(
                ctx,
                kube,
                objects,
                target.name,
                f"{target.name}: helm template {release} ({len(objects)} objects) for {where}",
            )
            record.changed = show_diff(ctx, kube, rendered, target.name, "helm")
            record.outcome = "dry-run"
            record.summary = (
                f"dry run of {target.name}: release {release}, {len(objects)} objects, "
                f"{record.changed} would change"
            )
            return
        history = helm.history(release)
        last = history[-1] if history else None
        if last and str(last.get("status", "")).startswith("pending"):
            raise StageFailed(
                f"release {release} is {last['status']} at revision {last['revision']} (an "
                f"earlier helm operation did not finish); roll it back with "
                f"`helm rollback {release} -n {access.namespace}` first"
            )
        good = next((h for h in reversed(history) if h.get("status") == "deployed"), None)
        if good:
            record.previous_revision = {f"release/{release}": str(good["revision"])}
        args = [
            "upgrade",
            "--install",
            release,
            chart,
            *chart_flags,
            *value_args,
            "--history-max",
            str(opts.history_max),
            "--description",
            f"gopipe {ctx.git.version} ({ctx.git.short_sha})",
        ]
        if opts.wait:
            args += ["--wait", "--timeout", f"{max(1, int(cluster.timeout))}s"]
        if opts.create_namespace:
            args.append("--create-namespace")
        started = time.monotonic()
        ctx.progress(f"{target.name}: helm upgrade --install {release} in {where}")
        res = helm.run(*args, timeout=cluster.timeout + 120)
        objects = helm.manifest_objects(release)
        record.objects = [key_of(o) for o in objects]
        workloads = [o for o in objects if is_workload(o)]
        details: list[str] = []
        if res.ok:
            left = max(5.0, cluster.timeout - (time.monotonic() - started))
            result = (
                wait_ready(
                    kube,
                    workloads,
                    timeout=left,
                    poll=cluster.poll_interval,
                    fail_fast=opts.fail_fast,
                    label=f"{target.name}: ",
                )
                if opts.wait
                else None
            )
            if result is None or result.ok:
                revision = _revision(helm, release)
                record.revision = {f"release/{release}": revision}
                record.outcome = "success"
                record.summary = (
                    f"{target.name}: release {release} revision {revision} in {where}, "
                    f"{len(workloads)} workload{'s' * (len(workloads) != 1)} ready in "
                    f"{time.monotonic() - started:.0f}s"
                )
                return
            failure, details = result.message, result.details
        else:
            why, details = explain(kube, workloads)
            failure = f"helm upgrade failed: {last_line(res)}" + (f"; {why}" if why else "")
            details = [res.stderr, *details]
        for line in details:
            ctx.log(line)
        record.reason = failure
        if not opts.atomic:
            record.rollback = f"atomic = false: release {release} left at its failed revision"
        elif good:
            back = helm.run(
                "rollback",
                release,
                str(good["revision"]),
                "--wait",
                "--timeout",
                f"{max(1, int(cluster.timeout))}s",
                timeout=cluster.timeout + 120,
            )
            record.rollback = (
                f"rolled back release {release} to revision {good['revision']}"
                if back.ok
                else f"rollback of release {release} FAILED: {last_line(back)}"
            )
            record.outcome = "rolled-back" if back.ok else "failed"
            record.revision = {f"release/{release}": _revision(helm, release)}
        elif not history:
            gone = helm.run("uninstall", release, "--wait", "--timeout", f"{max(1, int(cluster.timeout))}s")
            record.rollback = (
                f"uninstalled release {release} (its first install failed)"
                if gone.ok
                else f"uninstall of release {release} FAILED: {last_line(gone)}"
            )
            record.outcome = "rolled-back" if gone.ok else "failed"
        else:
            record.rollback = f"release {release} has no deployed revision to roll back to; left as is"
        raise StageFailed(
            f"{target.name}: {failure}; {record.rollback}",
            details="\n".join([failure, *details, record.rollback or ""]),
        )


def _revision(helm: Helm, release: str) -> str:
    history = helm.history(release)
    return str(history[-1]["revision"]) if history else "?"


def _objects(kube: Kube, rendered: Path) -> list[Obj]:
    res = kube.run(
        "annotate",
        "--local",
        "--overwrite",
        "-f",
        str(rendered),
        "-o",
        "json",
        f"gopipe.dev/commit={kube.ctx.git.sha}",
        namespaced=False,
    )
    if not res.ok:
        raise StageFailed(
            f"helm template output is not valid Kubernetes objects: {last_line(res)}", details=res.stderr
        )
    return parse_json_stream(res.stdout)


def run(ctx: ProviderContext[HelmOptions]) -> None:
    run_environments(ctx, lambda target, record: deploy(ctx, target, record))


@hookimpl
def gopipe_deployers() -> list[Deployer[HelmOptions]]:
    return [
        Deployer(
            name="helm",
            run=run,
            check=check,
            options=HelmOptions,
            description="helm upgrade --install with the pushed digest; waits, rolls back "
            "atomically after recording why",
        )
    ]
