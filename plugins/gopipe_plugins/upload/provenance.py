"""provenance: a SLSA v1 provenance statement for every binary, archive, package and image,
written to ``dist/provenance/`` and, with a key, signed as a DSSE envelope.

Runs in the upload stage because that stage follows build and package, so every artifact
the statements describe exists. For each subject it writes ``<name>.intoto.json`` (the
in-toto Statement, :mod:`gopipe_plugins._common.provenance`) and, when ``key`` is set,
``<name>.intoto.jsonl``: the DSSE envelope (:mod:`gopipe_plugins._common.dsse`) signed
with the cosign key (:mod:`gopipe_plugins._common.cosign_key`). That file is what
``cosign verify-blob-attestation --key cosign.pub --type slsaprovenance1 --signature
<name>.intoto.jsonl <file>`` checks. The password is ``password`` or else
``COSIGN_PASSWORD``, as for cosign.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gopipe
from gopipe import hookimpl
from gopipe.artifacts import Artifact, sha256_file
from gopipe.config import doc
from gopipe.context import ProviderContext
from gopipe.secrets import Secret
from gopipe.types import Uploader
from gopipe_plugins._common import dsse
from gopipe_plugins._common.provenance import (
    Build,
    Dependency,
    Subject,
    module_dependencies,
    statement,
)
from gopipe_plugins.upload.signing_key import load_signing_key

CONFIG_KEY = "tool.gopipe.upload.provenance"
FILE_KINDS = ("binary", "archive", "checksums", "package")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ProvenanceOptions:
    """Provenance settings; without ``key`` the statements are written unsigned."""

    key: Secret | None = doc("cosign private key (ENCRYPTED SIGSTORE PRIVATE KEY PEM)", None)
    password: Secret | None = doc("the key's password; default: the COSIGN_PASSWORD variable", None)
    builder_id: str = doc("SLSA builder id (a URI); default: the GitHub workflow, or urn:gopipe:local", "")
    output: str = doc("directory below dist for the statements", "provenance")


def run(ctx: ProviderContext[ProvenanceOptions]) -> None:
    subjects = _subjects(ctx)
    if not subjects:
        ctx.summary = "nothing to attest"
        return
    key = _signing_key(ctx)
    build = _build(ctx)
    out = ctx.dist_path(ctx.options.output, "output")
    out.mkdir(parents=True, exist_ok=True)
    signed = 0
    for subject, artifact in subjects:
        doc_ = statement(subject, build, _dependencies(ctx, artifact))
        stem = _SAFE.sub("_", subject.name).strip("_") or subject.kind
        if subject.kind == "image":
            stem = f"image-{stem}"
        path = out / f"{stem}.intoto.json"
        path.write_text(json.dumps(doc_, indent=2, sort_keys=True) + "\n")
        extra: dict[str, Any] = {
            "subject": subject.name,
            "subject_sha256": subject.sha256,
            "of": subject.kind,
        }
        ctx.add_artifact("provenance", path.name, path, **extra)
        if key is not None:
            envelope = dsse.sign(dsse.canonical(doc_), key)
            signed_path = out / f"{stem}.intoto.jsonl"
            signed_path.write_text(json.dumps(envelope, separators=(",", ":")) + "\n")
            ctx.add_artifact("attestation", signed_path.name, signed_path, **extra)
            signed += 1
    n = len(subjects)
    ctx.summary = f"{n} provenance statement{'s' * (n != 1)}" + (
        f", {signed} signed" if key else ", unsigned"
    )


def _subjects(ctx: ProviderContext[ProvenanceOptions]) -> list[tuple[Subject, Artifact]]:
    found: list[tuple[Subject, Artifact]] = []
    for artifact in ctx.artifacts:
        if artifact.kind in FILE_KINDS and artifact.path:
            path = ctx.repo_path(artifact.path, "output")
            if not path.is_file():
                continue
            digest = artifact.sha256 or sha256_file(path)
            name = os.path.relpath(path, ctx.dist) if path.is_relative_to(ctx.dist) else artifact.path
            found.append((Subject(name, digest, artifact.kind), artifact))
        elif artifact.kind == "image" and str(artifact.extra.get("index_digest", "")).startswith("sha256:"):
            digest = str(artifact.extra["index_digest"]).removeprefix("sha256:")
            found.append((Subject(artifact.name, digest, "image"), artifact))
    return found


def _signing_key(ctx: ProviderContext[ProvenanceOptions]) -> Any:
    opts = ctx.options
    return None if opts.key is None else load_signing_key(ctx, opts.key, opts.password, CONFIG_KEY)


def _build(ctx: ProviderContext[ProvenanceOptions]) -> Build:
    git, env = ctx.git, ctx.env
    config = ctx.config.file
    config_sha = hashlib.sha256(config.read_bytes()).hexdigest() if config.is_file() else ""
    tools = {
        a.name: str(a.extra["version"]) for a in ctx.artifacts.of_kind("lint-tool") if a.extra.get("version")
    }
    return Build(
        builder_id=ctx.options.builder_id or _default_builder(env),
        gopipe_version=gopipe.__version__,
        go_version=ctx.go.version(),
        config_path=os.path.relpath(config, ctx.root) if config.is_relative_to(ctx.root) else config.name,
        config_sha256=config_sha,
        source_uri=ctx.redact(git.remote_url or ""),
        ref=f"refs/tags/{git.tag}" if git.tag else (f"refs/heads/{git.branch}" if git.branch else ""),
        commit=git.sha if git.sha not in ("", "none") else "",
        pipeline=ctx.args.pipeline,
        targets=tuple(ctx.args.targets) or tuple(ctx.config.settings.targets),
        invocation_id=_invocation(env),
        started=ctx.run_started_at,
        finished=time.time(),
        tools=tools,
    )


def _default_builder(env: Any) -> str:
    server, workflow = env.get("GITHUB_SERVER_URL", ""), env.get("GITHUB_WORKFLOW_REF", "")
    if env.get("GITHUB_ACTIONS") == "true" and server and workflow:
        return f"{server.rstrip('/')}/{workflow}"
    return "urn:gopipe:local"


def _invocation(env: Any) -> str:
    server, repo, run_id = (
        env.get("GITHUB_SERVER_URL"),
        env.get("GITHUB_REPOSITORY"),
        env.get("GITHUB_RUN_ID"),
    )
    if server and repo and run_id:
        return (
            f"{server.rstrip('/')}/{repo}/actions/runs/{run_id}/attempts/{env.get('GITHUB_RUN_ATTEMPT', '1')}"
        )
    return f"urn:uuid:{uuid.uuid4()}"


def _dependencies(ctx: ProviderContext[ProvenanceOptions], artifact: Artifact) -> list[Dependency]:
    """What the subject was made from, beyond the source and toolchain every statement has."""
    if artifact.kind == "binary":
        return _modules(ctx, artifact)
    binaries = {b.name: b for b in ctx.artifacts.of_kind("binary")}
    deps: list[Dependency] = []
    wanted = artifact.extra.get("binaries")
    for b in binaries.values() if wanted is None else (binaries[n] for n in wanted if n in binaries):
        if b.sha256 and (artifact.kind != "archive" or (b.os, b.arch) == (artifact.os, artifact.arch)):
            deps.append(Dependency(f"file:{b.path}", {"sha256": b.sha256}, name=b.name))
    ca = artifact.extra.get("ca_bundle")
    if isinstance(ca, dict) and ca.get("sha256"):
        deps.append(
            Dependency(
                f"pkg:pypi/certifi@{ca.get('version', '')}" if ca.get("version") else str(ca.get("origin")),
                {"sha256": str(ca["sha256"])},
                name="ca-certificates.crt",
                annotations={"origin": ca.get("origin", ""), "wheel_sha256": ca.get("wheel_sha256", "")},
            )
        )
    return deps


def _modules(ctx: ProviderContext[ProvenanceOptions], binary: Artifact) -> list[Dependency]:
    go = ctx.go.go
    if go is None or not binary.path:
        return []
    path: Path = ctx.repo_path(binary.path, "output")
    res = ctx.sh([go, "version", "-m", "-json", str(path)], echo=False)
    if res.returncode != 0:
        ctx.log(f"{binary.name}: no Go build information ({res.stderr.strip()[:200]})")
        return []
    try:
        info = json.loads(res.stdout)
    except ValueError:
        return []
    return module_dependencies(info)


@hookimpl
def gopipe_uploaders() -> list[Uploader[ProvenanceOptions]]:
    return [
        Uploader(
            name="provenance",
            run=run,
            options=ProvenanceOptions,
            description="SLSA v1 provenance for binaries, archives, packages and images (DSSE-signed)",
        )
    ]
