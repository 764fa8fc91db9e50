"""SLSA v1 provenance in an in-toto Statement v1: what was built, from what, by whom, when.

One statement per subject (a binary, archive, checksum file, package or image index), so
``cosign verify-blob-attestation`` and ``verify-attestation`` match it to exactly one thing.
The predicate (https://slsa.dev/provenance/v1) holds:

- ``buildDefinition.buildType``: :data:`BUILD_TYPE`, gopipe's build of a Go module;
- ``externalParameters``: the config file (path and sha256), the source (remote, ref,
  commit), the pipeline and targets: what a user controls;
- ``internalParameters``: the gopipe version and the Go toolchain: what the builder chose;
- ``resolvedDependencies``: the source commit, the Go toolchain, every module linked into a
  binary (``go version -m -json``: path, version, ``dirHash`` from the go.sum ``h1:``), the
  tools gopipe pinned, and for archives/packages/images the binaries they were made from and
  any other pinned input (the static base's CA bundle);
- ``runDetails``: builder id and version, the invocation id, ``startedOn``/``finishedOn``.

Hand-written dictionaries rather than the ``in-toto-attestation`` package: that package is
protobuf bindings, and the JSON here is checked by cosign itself in the tests.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:gopipe:buildtype:go-module:v1"  # described in docs/supply-chain.md


@dataclass(frozen=True)
class Subject:
    """What a statement is about: a name and its sha256 (hex, no prefix)."""

    name: str
    sha256: str
    kind: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "digest": {"sha256": self.sha256}}


@dataclass(frozen=True)
class Dependency:
    """A ``ResourceDescriptor`` in ``resolvedDependencies``."""

    uri: str
    digest: Mapping[str, str] = field(default_factory=dict)
    name: str = ""
    annotations: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"uri": self.uri}
        if self.name:
            data["name"] = self.name
        if self.digest:
            data["digest"] = dict(self.digest)
        if self.annotations:
            data["annotations"] = dict(self.annotations)
        return data


@dataclass(frozen=True)
class Build:
    """Everything about the run that every statement of it shares."""

    builder_id: str
    gopipe_version: str
    go_version: str
    config_path: str
    config_sha256: str
    source_uri: str
    ref: str
    commit: str
    pipeline: str
    targets: tuple[str, ...]
    invocation_id: str
    started: float
    finished: float
    tools: Mapping[str, str] = field(default_factory=dict)


def rfc3339(seconds: float) -> str:
    moment = dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def h1_to_dirhash(sum_: str) -> str | None:
    """go.sum's ``h1:<base64>`` as the in-toto ``dirHash`` (hex); None for another form."""
    if not sum_.startswith("h1:"):
        return None
    try:
        return base64.b64decode(sum_[3:], validate=True).hex()
    except ValueError:
        return None


def module_dependencies(buildinfo: Mapping[str, Any]) -> list[Dependency]:
    """The modules ``go version -m -json`` says are linked into a binary."""
    deps = []
    for module in buildinfo.get("Deps") or []:
        used = module.get("Replace") or module
        path, version = str(used.get("Path", "")), str(used.get("Version", ""))
        if not path:
            continue
        dirhash = h1_to_dirhash(str(used.get("Sum", "")))
        deps.append(
            Dependency(f"pkg:golang/{path}@{version}", {"dirHash": dirhash} if dirhash else {}, name=path)
        )
    return deps


def base_dependencies(build: Build) -> list[Dependency]:
    deps = []
    if build.commit:
        uri = f"git+{build.source_uri}" if build.source_uri else "git+file:."
        deps.append(Dependency(uri + (f"@{build.ref}" if build.ref else ""), {"gitCommit": build.commit}))
    deps.append(Dependency(f"pkg:golang/std@{build.go_version}", name="go toolchain"))
    for tool, version in sorted(build.tools.items()):
        deps.append(Dependency(f"pkg:golang/{tool}@{version}", name=tool))
    return deps


def statement(subject: Subject, build: Build, dependencies: Sequence[Dependency]) -> dict[str, Any]:
    """The in-toto Statement v1 with the SLSA v1 provenance predicate for ``subject``."""
    predicate = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "config": {"path": build.config_path, "digest": {"sha256": build.config_sha256}},
                "source": {"uri": build.source_uri, "ref": build.ref, "commit": build.commit},
                "pipeline": build.pipeline,
                "targets": list(build.targets),
            },
            "internalParameters": {"gopipe": build.gopipe_version, "go": build.go_version},
            "resolvedDependencies": [d.to_json() for d in (*base_dependencies(build), *dependencies)],
        },
        "runDetails": {
            "builder": {"id": build.builder_id, "version": {"gopipe": build.gopipe_version}},
            "metadata": {
                "invocationId": build.invocation_id,
                "startedOn": rfc3339(build.started),
                "finishedOn": rfc3339(build.finished),
            },
        },
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": [subject.to_json()],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def read_statement(data: bytes) -> dict[str, Any]:
    """A statement read back (from a file or a DSSE payload), checked for its two types."""
    doc = json.loads(data)
    if doc.get("_type") != STATEMENT_TYPE or doc.get("predicateType") != PREDICATE_TYPE:
        raise ValueError("not an in-toto v1 statement with a SLSA v1 provenance predicate")
    return dict(doc)
