"""kubectl as a library: JSON in and out, quiet polling, Kubernetes object helpers.

Every cluster call goes through the real ``kubectl`` (the stage's process tracker, so a
cancelled or timed-out stage stops it) rather than a Python client: kubectl understands
every kubeconfig (exec plugins, client certificates, OIDC) and every manifest format.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gopipe.context import ProviderContext
from gopipe.errors import StageFailed
from gopipe.proc import Completed

from .kubeconfig import Access

Obj = dict[str, Any]

# Kinds that must never be deleted by a cleanup after a failed deploy: too much hangs off them.
NEVER_DELETE = frozenset(
    {"Namespace", "CustomResourceDefinition", "PersistentVolume", "PersistentVolumeClaim"}
)


class Kube:
    """kubectl bound to one cluster, context and namespace."""

    def __init__(self, ctx: ProviderContext[Any], kubectl: str, access: Access) -> None:
        self.ctx = ctx
        self.kubectl = kubectl
        self.access = access
        self.namespace = access.namespace

    def argv(self, *args: str, namespaced: bool = True) -> list[str]:
        ns = ["--namespace", self.namespace] if namespaced else []
        return [self.kubectl, *self.access.kubectl_flags(), *ns, *args]

    def run(
        self, *args: str, namespaced: bool = True, quiet: bool = False, timeout: float | None = 120.0
    ) -> Completed:
        """Run kubectl; ``quiet`` skips the command echo (status polls would flood the log)."""
        argv = self.argv(*args, namespaced=namespaced)
        if quiet:
            return self.ctx.tracker.run(argv, cwd=self.ctx.root, env=self.ctx.env, timeout=timeout)
        return self.ctx.sh(argv, timeout=timeout)

    def json(self, *args: str, what: str, quiet: bool = False) -> Any:
        """``kubectl ARGS -o json`` parsed; StageFailed naming ``what`` on error."""
        res = self.run(*args, "-o", "json", "--request-timeout=60s", quiet=quiet)
        if not res.ok:
            raise StageFailed(f"kubectl could not {what}: {last_line(res)}", details=res.stderr)
        return json.loads(res.stdout) if res.stdout.strip() else None

    def items(self, *args: str, what: str, quiet: bool = False) -> list[Obj]:
        return flatten([self.json(*args, what=what, quiet=quiet)])

    def get(self, resource: str, name: str, *, what: str, quiet: bool = False) -> Obj | None:
        """One object, or None when it does not exist."""
        res = self.run("get", f"{resource}/{name}", "-o", "json", "--request-timeout=60s", quiet=quiet)
        if res.ok:
            return dict(json.loads(res.stdout))
        if "(NotFound)" in res.stderr:
            return None
        raise StageFailed(f"kubectl could not {what}: {last_line(res)}", details=res.stderr)

    def patch(
        self,
        resource: str,
        patch: Any,
        *,
        kind: str = "json",
        subresource: str | None = None,
        field_manager: str = "gopipe",
    ) -> Completed:
        args = [
            "patch",
            resource,
            f"--type={kind}",
            "-p",
            json.dumps(patch),
            f"--field-manager={field_manager}",
            "-o",
            "json",
        ]
        if subresource:
            args.append(f"--subresource={subresource}")
        return self.run(*args)


def last_line(res: Completed) -> str:
    """The message kubectl/helm ended with (their last stderr line), for one-line errors."""
    lines = [line.strip() for line in (res.stderr or res.stdout).splitlines() if line.strip()]
    if res.cancelled and not lines:
        return "stopped (stage timeout or cancelled)"
    return lines[-1] if lines else f"exit code {res.returncode}"


def flatten(docs: Iterable[Any]) -> list[Obj]:
    """Objects from parsed documents, expanding ``List`` kinds; empty documents are dropped."""
    out: list[Obj] = []
    for doc in docs:
        if not isinstance(doc, Mapping):
            continue
        if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            out += flatten(doc["items"])
        elif doc.get("kind"):
            out.append(dict(doc))
    return out


def parse_json_stream(text: str) -> list[Obj]:
    """Objects from concatenated JSON documents (what ``kubectl … -o json`` prints for several)."""
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return flatten(docs)
        doc, i = decoder.raw_decode(text, i)
        docs.append(doc)


def write_list(path: Path, objects: Iterable[Obj]) -> Path:
    """Write objects as one ``v1 List`` (JSON is YAML, and kubectl applies lists item by item)."""
    path.write_text(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}, indent=1), encoding="utf-8"
    )
    return path


def group_of(obj: Mapping[str, Any]) -> str:
    api = str(obj.get("apiVersion", ""))
    return api.split("/", 1)[0] if "/" in api else ""


def key_of(obj: Mapping[str, Any]) -> str:
    """``Kind/name`` (namespaced objects all live in the deploy's namespace)."""
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


def resource_of(obj: Mapping[str, Any]) -> str:
    """``kind.group/name``, the unambiguous form kubectl get/delete accept."""
    group = group_of(obj)
    kind = str(obj.get("kind", "")).lower()
    return f"{kind}{'.' + group if group else ''}/{(obj.get('metadata') or {}).get('name')}"


def conditions(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {
        str(c.get("type")): c
        for c in (obj.get("status") or {}).get("conditions") or []
        if isinstance(c, Mapping)
    }


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against a label set."""
    if not selector:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and present and labels.get(key) in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True
