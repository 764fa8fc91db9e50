"""Where the helm deployer's chart comes from: a directory, a repo/name, an ``oci://`` or
``https://`` reference, or the chart this run's ``helm-chart`` uploader pushed.

An ``oci://`` chart may need registry credentials. They come from the environment only
(``chart_registry.password = { env = "NAME" }``), never from the URL, and reach helm through a
registry config file (the Docker ``config.json`` format helm reads) in the deploy's private
temp dir, keyed by the chart's host: so they are sent to that registry and no other, and never
appear on a command line. References are checked before any stage runs where the config has
them, and when the stage runs for the pushed one.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gopipe.config import Config
from gopipe.context import ProviderContext
from gopipe.errors import ConfigError, StageFailed
from gopipe_oci.reference import is_loopback
from gopipe_plugins._common.registry_access import resolve

from .options import HelmOptions

KEY = "tool.gopipe.deploy.helm"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])"
OCI_REF = re.compile(
    rf"oci://(?P<host>{_HOST}(?::[0-9]{{1,5}})?)/(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)


@dataclass(frozen=True)
class ChartSource:
    """What helm gets: the chart argument, flags for pulling it, and what the record names."""

    argument: str
    flags: tuple[str, ...] = ()
    reference: str | None = None  # the oci:// chart deployed (with its digest when known)


def _shown(chart: str) -> str:
    """The reference as an error may show it: anything before an '@' in the host part hidden."""
    scheme, sep, rest = chart.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    return (scheme + sep + authority + slash + path)[:120]


def _refuse(display_file: str, key: str, chart: str, why: str, fix: str) -> ConfigError:
    return ConfigError(display_file, f"{KEY}.{key}", f"{_shown(chart)!r} {why}", fix)


def check_reference(display_file: str, chart: str, key: str = "chart") -> None:
    """A chart URL: oci:// (or https://), no credentials in it, no '..', nothing but a reference."""
    if "://" not in chart:
        return
    scheme, _, rest = chart.partition("://")
    authority = rest.split("/", 1)[0]
    if "@" in authority:
        raise _refuse(
            display_file,
            key,
            chart,
            "carries credentials in the URL",
            'remove them and set chart_registry.username and chart_registry.password = { env = "NAME" }',
        )
    if any(seg in ("..", ".") for seg in rest.replace("\\", "/").split("/")) or "%2e" in rest.lower():
        why = "has a '.' or '..' path segment"
        raise _refuse(display_file, key, chart, why, "name the chart's repository path")
    if scheme == "https":
        if re.search(r"[\s\x00-\x1f]", rest):
            why = "has spaces or control characters"
            raise _refuse(display_file, key, chart, why, "write the chart's URL")
        return
    if scheme != "oci":
        raise _refuse(
            display_file,
            key,
            chart,
            "is not an oci:// (or https://) chart reference",
            'write chart = "oci://HOST/REPOSITORY/NAME", or a chart directory in the repository',
        )
    if not OCI_REF.fullmatch(chart):
        raise _refuse(
            display_file,
            key,
            chart,
            "is not a valid oci:// reference",
            'write oci://HOST[:PORT]/lower/case/path/NAME (optionally ":TAG" or "@sha256:…")',
        )


def check(config: Config, opts: HelmOptions) -> None:
    """Preflight of the chart options: a safe reference, registry options only where they are used."""
    display = config.display_file
    check_reference(display, opts.chart)
    registry = opts.chart_registry
    oci = opts.pushed_chart or opts.chart.startswith("oci://")
    used = registry.username is not None or registry.password is not None or registry.plain_http
    if used and not oci:
        raise ConfigError(
            display,
            f"{KEY}.chart_registry",
            "registry credentials and plain_http apply to an oci:// chart only",
            'set pushed_chart = true or chart = "oci://…", or remove chart_registry',
        )
    if registry.password is not None and registry.password.env is None:
        raise ConfigError(
            display,
            f"{KEY}.chart_registry.password",
            "chart registry credentials come from the environment only",
            'write password = { env = "NAME" }',
        )
    match = OCI_REF.fullmatch(opts.chart)
    if registry.plain_http and match and not is_loopback(match["host"]):
        raise ConfigError(
            display,
            f"{KEY}.chart_registry.plain_http",
            f"plain HTTP is only allowed for a loopback registry, not {match['host']}",
            "remove plain_http and set chart_registry.ca_file to the registry's CA certificate",
        )
    if opts.pushed_chart and "helm-chart" not in config.stage("upload").providers:
        raise ConfigError(
            display,
            f"{KEY}.pushed_chart",
            "no chart is pushed in this pipeline",
            'add "helm-chart" to [tool.gopipe.upload] providers, or set chart instead',
        )
    if opts.pushed_chart and opts.chart_version:
        raise ConfigError(
            display,
            f"{KEY}.chart_version",
            "the pushed chart is installed at the version it was pushed with",
            "remove chart_version (or pushed_chart)",
        )
    version_ok = re.fullmatch(r"[\w.+~^<>=*, -]{1,128}", opts.chart_version)
    if opts.chart_version and not version_ok:
        raise ConfigError(
            display,
            f"{KEY}.chart_version",
            f"{opts.chart_version[:60]!r} is not a chart version or range",
            'write e.g. chart_version = "1.2.3"',
        )


def pushed_chart(ctx: ProviderContext[HelmOptions]) -> tuple[str, str]:
    """``(oci reference at its digest, version)`` of the chart the upload stage pushed."""
    charts = [a for a in ctx.artifacts.of_kind("helm-chart") if a.extra.get("reference")]
    if len(charts) != 1:
        found = ", ".join(str(a.extra.get("reference")) for a in charts) or "none"
        raise StageFailed(
            f"{KEY}.pushed_chart: expected one pushed helm-chart artifact, found {found}; "
            'add "helm-chart" to [tool.gopipe.upload] providers'
        )
    reference = str(charts[0].extra["reference"])
    version = str(charts[0].extra.get("version") or "")
    try:
        check_reference(ctx.config.display_file, reference, "pushed_chart")
    except ConfigError as exc:
        raise StageFailed(str(exc)) from None
    if not OCI_REF.fullmatch(reference) or "@sha256:" not in reference:
        raise StageFailed(
            f"{KEY}.pushed_chart: the upload stage recorded {reference[:200]!r}, not oci://…@sha256:…"
        )
    return reference, version


def registry_flags(ctx: ProviderContext[HelmOptions], chart: str, workdir: Path) -> list[str]:
    """helm flags for an oci:// chart: CA, plain HTTP, and a registry config for its host only."""
    match = OCI_REF.fullmatch(chart)
    if match is None:
        return []
    host = match["host"]
    registry = ctx.options.chart_registry
    flags: list[str] = []
    if registry.plain_http:
        if not is_loopback(host):
            raise ConfigError(
                ctx.config.display_file,
                f"{KEY}.chart_registry.plain_http",
                f"plain HTTP is only allowed for a loopback registry, not {host}",
                "remove plain_http and set chart_registry.ca_file to the registry's CA certificate",
            )
        flags.append("--plain-http")
    ca = resolve(ctx, registry.ca_file, "chart_registry.ca_file")
    if ca:
        ca_path = (ctx.root / ca).expanduser()
        if not ca_path.is_file():
            raise StageFailed(f"{KEY}.chart_registry.ca_file: {ca_path} does not exist")
        flags += ["--ca-file", str(ca_path)]
    user = resolve(ctx, registry.username, "chart_registry.username")
    config: dict[str, Any] = {"auths": {}}
    if registry.password is not None or user:
        if registry.password is None or not user:
            raise StageFailed(f"{KEY}.chart_registry: set both username and password, or neither")
        try:
            secret = registry.password.reveal()
        except LookupError as exc:
            raise StageFailed(f"{KEY}.chart_registry.password: {exc}") from None
        token = base64.b64encode(f"{user}:{secret}".encode()).decode()
        ctx.add_secret(token)
        config["auths"][host] = {"auth": token}
    # Always a config of our own: helm must not fall back to ~/.config/helm/registry or docker's.
    path = workdir / "registry-config.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(config, out)
    return ["--registry-config", str(path), *flags]


def chart_source(ctx: ProviderContext[HelmOptions], workdir: Path) -> ChartSource:
    """The chart argument and its flags for this deploy (see the module docstring)."""
    opts = ctx.options
    if opts.pushed_chart:
        reference, pushed_version = pushed_chart(ctx)
        flags = [*registry_flags(ctx, reference, workdir)]
        if pushed_version:
            flags += ["--version", pushed_version]
        return ChartSource(reference, tuple(flags), reference)
    chart = opts.chart
    version: tuple[str, ...] = ("--version", opts.chart_version) if opts.chart_version else ()
    if chart.startswith("oci://"):
        return ChartSource(chart, (*registry_flags(ctx, chart, workdir), *version), chart)
    if "://" in chart:
        return ChartSource(chart, version)
    local = ctx.root / chart
    if Path(chart).is_absolute() or ".." in Path(chart).parts or local.exists() or local.is_symlink():
        return ChartSource(str(ctx.repo_path(chart, "chart")), version)
    return ChartSource(chart, version)  # repo/name from `helm repo add`
