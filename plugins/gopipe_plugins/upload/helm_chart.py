"""``helm-chart`` uploader: package the repository's chart for this release and push it to an
OCI registry as ``helm push`` would.

The chart's ``version`` and ``appVersion`` are the git version; this run's image digest (the
package stage's image, the same digest the registry uploader pushes) is written into the
values path the deploy config names (``[tool.gopipe.deploy.helm] digest_value``, default
``image.digest``), so ``helm install oci://host/repo/chart --version V`` deploys exactly that
image. It runs in the upload stage because the digest is final only once the package stage is
done. The package lands in ``dist/`` (artifact kind ``helm-chart``, so publishers attach it)
and the push is recorded with its ``oci://…@sha256:…`` reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gopipe import hookimpl
from gopipe.artifacts import Artifact
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.stages import Stage
from gopipe.types import Uploader
from gopipe_oci import RegistryError, push_chart
from gopipe_plugins._common.chart_files import ChartError, package_chart
from gopipe_plugins._common.registry_access import (
    RegistryAccess,
    connect,
    credentials,
    library_logs,
    register_tokens,
    resolve,
)
from gopipe_plugins.upload.image_push import render_repository


@dataclass(frozen=True)
class HelmChartOptions(RegistryAccess):
    """Package the chart with this release's version and image digest; push it as an OCI artifact."""

    CONFIG_KEY: ClassVar[str] = "tool.gopipe.upload.helm-chart"

    chart: str = doc("chart directory; empty = [tool.gopipe.deploy.helm] chart, else deploy/chart", "")
    repository: str = doc("repository the chart goes under (its name is appended)", "{project}/charts")
    image: str = doc("image whose digest the chart gets; empty = the only image of the run", "")
    image_repository: str = doc(
        "written to the deploy config's repository_value when set (a template, e.g. HOST/{project})", ""
    )


def _deploy_helm(ctx: ProviderContext[Any]) -> dict[str, Any]:
    table = ctx.config.stage(Stage.DEPLOY).tables.get("helm", {})
    return dict(table) if isinstance(table, dict) else {}


def _image(ctx: ProviderContext[HelmChartOptions]) -> Artifact | None:
    images = [a for a in ctx.artifacts.of_kind("image") if a.extra.get("index_digest")]
    if ctx.options.image:
        found = [a for a in images if a.name == ctx.options.image]
        if not found:
            ctx.fail(f"helm-chart image {ctx.options.image!r}: the package stage built no such image")
        return found[0]
    if len(images) > 1:
        ctx.fail(
            f"several images ({', '.join(a.name for a in images)}): set [tool.gopipe.upload.helm-chart] image"
        )
    return images[0] if images else None


def run(ctx: ProviderContext[HelmChartOptions]) -> None:
    opts = ctx.options
    deploy = _deploy_helm(ctx)
    chart_dir = opts.chart or str(deploy.get("chart") or "deploy/chart")
    if "://" in chart_dir:
        chart_dir = "deploy/chart"
    chart = ctx.repo_path(chart_dir, "chart")
    if not (chart / "Chart.yaml").is_file():
        ctx.fail(f"no chart at {chart_dir} (Chart.yaml missing); set [tool.gopipe.upload.helm-chart] chart")
    values: dict[str, str] = {}
    image = _image(ctx)
    if image is not None:
        values[str(deploy.get("digest_value") or "image.digest")] = str(image.extra["index_digest"])
        if opts.image_repository:
            key = str(deploy.get("repository_value") or "image.repository")
            values[key] = ctx.render(opts.image_repository, key="image_repository", name=image.name)
    out = ctx.dist_path("charts", "chart")
    out.mkdir(parents=True, exist_ok=True)
    version = ctx.git.version
    try:
        package = package_chart(
            chart, out, version=version, app_version=version, values=values, mtime=ctx.git.commit_time
        )
    except (ChartError, OSError) as exc:
        ctx.fail(f"chart {chart_dir}: {exc}")
    host = resolve(ctx, opts.registry, "registry", required=True)
    repo = render_repository(ctx, f"{opts.repository.rstrip('/')}/{package.name}", package.name)
    with library_logs(ctx), connect(ctx, opts, host, credentials(ctx, opts)) as client:
        target = f"{client.registry}/{repo}"
        annotations = {
            "org.opencontainers.image.version": version,
            "org.opencontainers.image.created": ctx.git.date,
        }
        try:
            result = push_chart(
                package.path, package.metadata, target, client=client, annotations=annotations
            )
        except (RegistryError, ValueError, OSError) as exc:
            ctx.fail(f"push of chart {package.name} {version} to {target}: {exc}")
        finally:
            register_tokens(ctx, client)
    ctx.add_artifact(
        "helm-chart",
        package.path.name,
        package.path,
        chart=package.name,
        version=version,
        reference=f"oci://{target}@{result.digest}",
        repository=f"oci://{target}",
        digest=result.digest,
        tags=list(result.tags),
        image_digest=values.get(str(deploy.get("digest_value") or "image.digest")),
    )
    ctx.summary = f"chart {package.name} {version} -> oci://{target}@{result.digest[:19]}"


@hookimpl
def gopipe_uploaders() -> list[Uploader[HelmChartOptions]]:
    return [
        Uploader(
            name="helm-chart",
            run=run,
            options=HelmChartOptions,
            description="package the Helm chart with this release's version and image digest; push it as OCI",
        )
    ]
