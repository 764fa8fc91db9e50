"""The harness fixtures for every test, and the guard that keeps the unit tier fast.

``pytest -m "not slow"`` is the unit tier: no Go and no service. Every test that uses a
fixture below needs the ``slow`` marker, or collection stops naming it, so a new test
cannot quietly pull a registry or a Go build into the fast run.
"""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.harness.procs",
    "tests.harness.registry",
    "tests.harness.faulty_proxy",
    "tests.harness.dockerd",
    "tests.harness.buildah",
    "tests.harness.pushgateway",
    "tests.harness.moto_server",
    "tests.harness.smtp",
    "tests.harness.k8s",
    "tests.harness.referrers_registry",
]

# Fixtures that start a service binary, build with Go or install a Go tool.
SLOW_FIXTURES = frozenset(
    {
        "registry",
        "plain_registry",
        "referrers_registry",
        "faulty_registry",
        "users_registry",
        "dockerd",
        "buildah",
        "pushgateway",
        "moto",
        "k8s_cluster",
        "k8s_namespace",
        "deploy",
        "actionlint",
        "go_binaries",
        "dep_repo",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [
        f"{item.nodeid} (uses {', '.join(sorted(SLOW_FIXTURES & set(item.fixturenames)))})"
        for item in items
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests using a service or Go fixture must be marked @pytest.mark.slow:\n  "
            + "\n  ".join(unmarked)
        )
