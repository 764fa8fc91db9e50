"""Thin wrappers over Debian `skopeo` so tests can read back what was pushed.

skopeo talks to the registry directly (no daemon), trusts the TLS registry's
CA through `--cert-dir` (the directory holding only `ca.crt`) and passes the
htpasswd credentials with `--creds`, so no global config is touched.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from typing import Any

from tests.harness import procs
from tests.harness.registry import Registry


def registry_args(registry: Registry, prefix: str = "") -> list[str]:
    """TLS and credential flags for `registry` (`prefix` is "", "src-" or "dest-")."""
    if registry.ca_cert is not None:
        args = [f"--{prefix}cert-dir={registry.ca_cert.parent}", f"--{prefix}tls-verify=true"]
    else:
        args = [f"--{prefix}tls-verify=false"]
    if registry.username is not None and registry.password is not None:
        args.append(f"--{prefix}creds={registry.username}:{registry.password}")
    return args


def ref(registry: Registry, repository: str, tag_or_digest: str = "latest") -> str:
    """`docker://HOST/REPO:TAG` or `docker://HOST/REPO@sha256:...`."""
    sep = "@" if tag_or_digest.startswith("sha256:") else ":"
    return f"docker://{registry.host}/{repository}{sep}{tag_or_digest}"


def run(args: Sequence[str], timeout: float = 120.0) -> str:
    """Run skopeo with a permissive signature policy; raise with stderr on failure."""
    binary = procs.require_binary("skopeo", "skopeo")
    cmd = [binary, "--insecure-policy", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def inspect(image: str, registry: Registry | None = None, *, raw: bool = False, retries: int = 0) -> Any:
    """`skopeo inspect` as parsed JSON (`raw=True` returns the manifest itself).

    skopeo 1.9 retries (`retries` > 0) on dropped connections and on 5xx with a
    registry error body for upload POSTs, not on other bare 5xx answers.
    """
    args = ["inspect", f"--retry-times={retries}", *(registry_args(registry) if registry else [])]
    if raw:
        args.append("--raw")
    return json.loads(run([*args, image]))


def digest(image: str, registry: Registry | None = None, *, retries: int = 0) -> str:
    """Manifest digest (`sha256:...`) of `image` as the registry serves it."""
    return str(inspect(image, registry, retries=retries)["Digest"])


def copy(
    src: str,
    dest: str,
    *,
    src_registry: Registry | None = None,
    dest_registry: Registry | None = None,
    retries: int = 0,
    extra: Sequence[str] = (),
) -> None:
    """`skopeo copy` between transports (e.g. `oci:DIR:TAG` -> `docker://...`)."""
    args = ["copy", "--quiet", f"--retry-times={retries}", *extra]
    if src_registry is not None:
        args += registry_args(src_registry, "src-")
    if dest_registry is not None:
        args += registry_args(dest_registry, "dest-")
    run([*args, src, dest])
