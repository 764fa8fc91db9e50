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

# (plugin name, module). The plugin name is what ``disable_plugins`` blocks.
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    # lint
    ("gofmt", "gopipe_plugins.lint.gofmt"),
    ("govet", "gopipe_plugins.lint.govet"),
    ("staticcheck", "gopipe_plugins.lint.staticcheck"),
    ("golangci-lint", "gopipe_plugins.lint.golangci"),
    ("govulncheck", "gopipe_plugins.lint.govulncheck"),
    ("sarif", "gopipe_plugins.lint.sarif"),
    # test, coverage, build
    ("gotest", "gopipe_plugins.gotest"),
    ("coverage", "gopipe_plugins.coverage.providers"),
    ("gobuild", "gopipe_plugins.gobuild"),
    # package
    ("oci-image", "gopipe_plugins.images.oci_image"),
    ("package-archive", "gopipe_plugins.package.archive"),
    ("package-docker", "gopipe_plugins.package.docker"),
    ("package-buildah", "gopipe_plugins.package.buildah"),
    # upload
    ("upload-registry", "gopipe_plugins.upload.registry"),
    ("upload-harbor", "gopipe_plugins.upload.harbor"),
    ("upload-ecr", "gopipe_plugins.upload.ecr"),
    ("upload-oci-artifact", "gopipe_plugins.upload.oci_artifact"),
    ("upload-s3", "gopipe_plugins.upload.s3"),
    # deploy
    ("deploy-settings", "gopipe_plugins.deploy.settings"),
    ("deploy-kubectl", "gopipe_plugins.deploy.kubectl"),
    ("deploy-helm", "gopipe_plugins.deploy.helm"),
    ("deploy-argo-rollouts", "gopipe_plugins.deploy.argo"),
    ("deploy-flagger", "gopipe_plugins.deploy.flagger"),
    # notify and observers
    ("notify", "gopipe_plugins.notify.plugin"),
    ("pushgateway", "gopipe_plugins.observe.pushgateway"),
    ("metadata", "gopipe_plugins.observe.metadata"),
)


def disabled_from_env(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    value = (environ if environ is not None else os.environ).get(DISABLE_ENV, "")
    return tuple(n.strip() for n in value.replace(",", " ").split() if n.strip())


def create_manager(disabled: Iterable[str] = (), *, entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh manager: hookspecs, blocked names, built-ins, entry points, then check."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in disabled:
        pm.set_blocked(name)
    for name, module in BUILTIN_PLUGINS:
        if not pm.is_blocked(name):
            pm.register(importlib.import_module(module), name=name)
    if entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    pm.check_pending()
    return pm
