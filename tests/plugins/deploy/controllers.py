"""Stand-ins for the Argo Rollouts and Flagger controllers, which cannot run in the test cluster.

They do only what those controllers do to the objects gopipe reads: once gopipe has changed
the watched object (its ``metadata.generation`` moved on), they write a scripted sequence of
``status`` values through the status subresource (``kubectl patch --subresource=status``), as
the real controllers would while a release progresses, succeeds, fails or is aborted. The
CRDs are the real ones (tests/plugins/deploy/crds); only the controller's decisions are scripted.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tests.harness.k8s import ControlPlane

Status = dict[str, Any] | Callable[[int], dict[str, Any]]


def condition(type_: str, status: str, reason: str, message: str) -> dict[str, str]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now,
        "lastUpdateTime": now,
    }


def generation(cluster: ControlPlane, namespace: str, resource: str) -> int:
    got = json.loads(cluster.kubectl("get", "-n", namespace, resource, "-o", "json").stdout)
    return int(got["metadata"]["generation"])


def write_status(cluster: ControlPlane, namespace: str, resource: str, status: dict[str, Any]) -> None:
    cluster.kubectl(
        "patch",
        "-n",
        namespace,
        resource,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


class Controller(threading.Thread):
    """Writes ``steps`` to ``resource``'s status once ``watch`` is past generation ``after``.

    A step is a status dict or a function of the new generation returning one; ``pause``
    seconds pass between steps (a real controller reconciles on its own schedule too).
    """

    def __init__(
        self,
        cluster: ControlPlane,
        namespace: str,
        *,
        watch: str,
        resource: str,
        steps: Sequence[Status],
        pause: float = 0.6,
        start_delay: float = 0.0,
    ) -> None:
        super().__init__(daemon=True, name=f"controller:{resource}")
        self.cluster, self.namespace = cluster, namespace
        self.watch, self.resource = watch, resource
        self.steps = list(steps)
        self.pause, self.start_delay = pause, start_delay
        self.after = generation(cluster, namespace, watch)
        self.stop = threading.Event()
        self.started_at: float | None = None  # when the first new status was written
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            gen = self.after
            while not self.stop.is_set():
                gen = generation(self.cluster, self.namespace, self.watch)
                if gen > self.after:
                    break
                self.stop.wait(0.2)
            if self.stop.wait(self.start_delay):
                return
            for i, step in enumerate(self.steps):
                if self.stop.is_set():
                    return
                write_status(
                    self.cluster, self.namespace, self.resource, step(gen) if callable(step) else step
                )
                if i == 0:
                    self.started_at = time.monotonic()
                self.stop.wait(self.pause)
        except BaseException as exc:  # reported by the test through .error
            self.error = exc


@contextmanager
def controller(cluster: ControlPlane, namespace: str, **kwargs: Any) -> Iterator[Controller]:
    thread = Controller(cluster, namespace, **kwargs)
    thread.start()
    try:
        yield thread
    finally:
        thread.stop.set()
        thread.join(15)
    assert thread.error is None, thread.error
