"""Create the plugin manager for one run: built-ins, then entry points, blocking first.

Built-in plugins are listed here in code and registered exactly like third-party ones
(tox 4 does the same). A blocked name (``disable_plugins`` or ``GOPIPE_DISABLE_PLUGINS``)
is blocked before entry points load, so a broken third-party plugin can be switched off
without uninstalling it, like pytest's ``-p no:NAME``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable

import pluggy

from gopipe import hookspecs
from gopipe.hookspecs import PROJECT

ENTRY_POINT_GROUP = "gopipe"
DISABLE_ENV = "GOPIPE_DISABLE_PLUGINS"

# (plugin name, module). One plugin per provider, named like the provider, so
# ``disable_plugins = ["slack"]`` blocks exactly that provider. The Go tester and builder
# are both called ``go``; their plugins are ``go-test`` and ``go-build``, and the name
# ``go`` blocks both (see :data:`ALIASES`).
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    # lint
    ("gofmt", "gopipe_plugins.lint.gofmt"),
    ("govet", "gopipe_plugins.lint.govet"),
    ("staticcheck", "gopipe_plugins.lint.staticcheck"),
    ("golangci-lint", "gopipe_plugins.lint.golangci_lint"),
    ("govulncheck", "gopipe_plugins.lint.govulncheck"),
    ("sarif", "gopipe_plugins.lint.sarif"),
    # test
    ("go-test", "gopipe_plugins.test.gotest"),
    # coverage
    ("summary", "gopipe_plugins.coverage.summary"),
    ("threshold", "gopipe_plugins.coverage.threshold"),
    ("cobertura", "gopipe_plugins.coverage.cobertura"),
    ("html", "gopipe_plugins.coverage.html"),
    # build
    ("go-build", "gopipe_plugins.build.gobuild"),
    # package
    ("oci-image", "gopipe_plugins.package.oci_image"),
    ("archive", "gopipe_plugins.package.archive"),
    ("docker", "gopipe_plugins.package.docker"),
    ("buildah", "gopipe_plugins.package.buildah"),
    # upload
    ("registry", "gopipe_plugins.upload.registry"),
    ("harbor", "gopipe_plugins.upload.harbor"),
    ("ecr", "gopipe_plugins.upload.ecr"),
    ("oci-artifact", "gopipe_plugins.upload.oci_artifact"),
    ("s3", "gopipe_plugins.upload.s3"),
    # deploy
    ("deploy-settings", "gopipe_plugins.deploy.settings"),
    ("kubectl", "gopipe_plugins.deploy.kubectl"),
    ("helm", "gopipe_plugins.deploy.helm"),
    ("argo-rollouts", "gopipe_plugins.deploy.argo"),
    ("flagger", "gopipe_plugins.deploy.flagger"),
    # notify
    ("slack", "gopipe_plugins.notify.slack"),
    ("wecom", "gopipe_plugins.notify.wecom"),
    ("dingtalk", "gopipe_plugins.notify.dingtalk"),
    ("feishu", "gopipe_plugins.notify.feishu"),
    ("teams", "gopipe_plugins.notify.teams"),
    ("webhook", "gopipe_plugins.notify.webhook"),
    ("email", "gopipe_plugins.notify.mail"),
    ("notify-state", "gopipe_plugins.notify.state"),
    # observe
    ("pushgateway", "gopipe_plugins.observe.pushgateway"),
    ("metadata", "gopipe_plugins.observe.metadata"),
)
# A provider name shared by several built-in plugins blocks all of them.
ALIASES: dict[str, tuple[str, ...]] = {"go": ("go-test", "go-build")}


def disabled_from_env(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    value = (environ if environ is not None else os.environ).get(DISABLE_ENV, "")
    return tuple(n.strip() for n in value.replace(",", " ").split() if n.strip())


def create_manager(disabled: Iterable[str] = (), *, entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh manager: hookspecs, blocked names, built-ins, entry points, then check."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in disabled:
        for blocked in ALIASES.get(name, (name,)):
            pm.set_blocked(blocked)
    for name, module in BUILTIN_PLUGINS:
        if not pm.is_blocked(name):
            pm.register(importlib.import_module(module), name=name)
    if entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    pm.check_pending()
    return pm
