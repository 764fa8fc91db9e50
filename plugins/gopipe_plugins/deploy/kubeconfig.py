"""Cluster credentials: find the kubeconfig, keep it private, mask everything in it.

A kubeconfig from a secret is written mode 0600 into a private (0700) temporary directory
that is removed when the deploy ends, whatever happens. Before anything runs, the kubeconfig
is read back through ``kubectl config view --raw -o json`` (so no YAML parser is needed and
every format kubectl accepts works) and its credentials (tokens, passwords, key and
certificate data, auth-provider and exec settings) are registered with the run's redactor,
so they are masked in the console, logs, events, report and notifications.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gopipe.context import ProviderContext
from gopipe.errors import StageFailed
from gopipe.secrets import Secret

from .options import ClusterOptions, Environment

_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]+")
# Fields of a kubeconfig user whose values are credentials.
_USER_SECRETS = ("token", "password", "client-key-data", "client-certificate-data")


@dataclass(frozen=True)
class Cluster:
    """Effective cluster settings of one environment: provider options, then overrides."""

    kubeconfig: str | None
    kubeconfig_secret: Secret | None
    context: str | None
    namespace: str | None
    timeout: float
    poll_interval: float

    @classmethod
    def of(cls, opts: ClusterOptions, env: Environment) -> Cluster:
        # An environment that names its own credentials replaces the provider's entirely.
        own = env.kubeconfig_secret is not None or env.kubeconfig is not None
        return cls(
            kubeconfig=env.kubeconfig if own else opts.kubeconfig,
            kubeconfig_secret=env.kubeconfig_secret if own else opts.kubeconfig_secret,
            context=env.context or opts.context,
            namespace=env.namespace or opts.namespace,
            timeout=env.timeout if env.timeout is not None else opts.timeout,
            poll_interval=max(0.2, opts.poll_interval),
        )


@dataclass(frozen=True)
class Access:
    """What kubectl/helm need: an optional kubeconfig path, a context and the namespace."""

    kubeconfig: Path | None
    context: str | None
    namespace: str
    workdir: Path  # private temp dir (0700), removed afterwards
    source: str  # where the credentials came from, for messages
    server: str | None

    def kubectl_flags(self) -> list[str]:
        flags = ["--kubeconfig", str(self.kubeconfig)] if self.kubeconfig else []
        return flags + (["--context", self.context] if self.context else [])

    def helm_flags(self) -> list[str]:
        flags = ["--kubeconfig", str(self.kubeconfig)] if self.kubeconfig else []
        return flags + (["--kube-context", self.context] if self.context else [])


def find_tool(ctx: ProviderContext[Any], value: str, key: str) -> str:
    """An executable from an option: a path (relative to the repository) or a name on PATH."""
    option = f"tool.gopipe.{ctx.stage}.{ctx.provider}.{key}"
    if "/" in value or value.startswith((".", "~")):
        path = ctx.root / Path(value).expanduser()
        if not path.is_file() or not os.access(path, os.X_OK):
            raise StageFailed(f"{option}: {path} is not an executable file")
        return str(path)
    found = shutil.which(value, path=ctx.env.get("PATH", os.defpath))
    if not found:
        raise StageFailed(f'{value} not found on PATH; install it or set {option} = "/path/to/{value}"')
    return found


def decode_kubeconfig(value: str) -> str:
    """Raw kubeconfig text from a secret that holds either the YAML itself or its base64."""
    text = value.strip()
    if not _BASE64.fullmatch(text):  # YAML/JSON always has a ':'; base64 never does
        return value
    try:
        return base64.b64decode("".join(text.split()), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return value


def _write_private(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(content)


def credentials_in(config: Mapping[str, Any]) -> list[str]:
    """Every credential value in a kubeconfig (as ``kubectl config view --raw -o json`` prints it)."""
    found: list[str] = []
    for entry in config.get("users") or []:
        user = (entry or {}).get("user") or {}
        for key in _USER_SECRETS:
            if user.get(key):
                found.append(str(user[key]))
                if key.endswith("-data"):
                    with contextlib.suppress(binascii.Error, UnicodeDecodeError, ValueError):
                        found.append(base64.b64decode(str(user[key])).decode("utf-8"))
        provider = user.get("auth-provider") or {}
        found += [str(v) for v in (provider.get("config") or {}).values() if v]
        for var in (user.get("exec") or {}).get("env") or []:
            if var.get("value"):
                found.append(str(var["value"]))
    for entry in config.get("clusters") or []:
        data = ((entry or {}).get("cluster") or {}).get("certificate-authority-data")
        if data:
            found.append(str(data))
    return found


@contextlib.contextmanager
def cluster_access(ctx: ProviderContext[Any], cluster: Cluster, kubectl: str) -> Iterator[Access]:
    """Resolve the kubeconfig for ``cluster``; yields an :class:`Access`, then deletes temp files."""
    workdir = Path(tempfile.mkdtemp(prefix="gopipe-deploy-"))
    try:
        env_kubeconfig = ctx.env.get("KUBECONFIG")
        path: Path | None = None
        if cluster.kubeconfig_secret is not None:
            secret = cluster.kubeconfig_secret
            source = f"kubeconfig_secret ({secret.describe()})"
            try:
                raw = secret.reveal()
            except LookupError as exc:
                raise StageFailed(f"{source}: {exc}") from None
            ctx.add_secret(raw)
            content = decode_kubeconfig(raw)
            ctx.add_secret(content)
            path = workdir / "kubeconfig"
            _write_private(path, content)
        elif cluster.kubeconfig:
            path = ctx.repo_path(cluster.kubeconfig, "kubeconfig")  # outside it: $KUBECONFIG
            source = f"kubeconfig file {cluster.kubeconfig}"
            if not path.is_file():
                raise StageFailed(f"{source} does not exist ({path})")
        else:
            source = "$KUBECONFIG" if env_kubeconfig else "~/.kube/config"
        flags = ["--kubeconfig", str(path)] if path else []
        res = ctx.sh([kubectl, *flags, "config", "view", "--raw", "-o", "json"], echo=False)
        if not res.ok:
            first = (res.stderr.strip().splitlines() or ["unreadable"])[-1]
            raise StageFailed(f"{source} is not a valid kubeconfig: {ctx.redact(first)}")
        config = json.loads(res.stdout or "{}")
        for value in credentials_in(config):
            ctx.add_secret(value)
        contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or []}
        name = cluster.context or config.get("current-context") or None
        if not contexts:
            raise StageFailed(
                f"no cluster configured: {source} has no contexts (set kubeconfig, "
                "kubeconfig_secret or KUBECONFIG)"
            )
        if name not in contexts:
            known = ", ".join(sorted(str(c) for c in contexts))
            raise StageFailed(
                f"context {name!r} is not in {source} (contexts: {known})"
                if name
                else f"{source} has no current-context; set context (contexts: {known})"
            )
        selected = contexts[name]
        servers = {
            c.get("name"): (c.get("cluster") or {}).get("server") for c in config.get("clusters") or []
        }
        yield Access(
            kubeconfig=path,
            context=cluster.context,
            namespace=cluster.namespace or selected.get("namespace") or "default",
            workdir=workdir,
            source=source,
            server=servers.get(selected.get("cluster")),
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
