"""What a linter says about itself for SARIF: name, version, home page and its rules.

Each linter records one ``lint-tool`` artifact (no file) while it runs; the SARIF observer
(:mod:`gopipe_plugins.lint.sarif`) turns it into the run's ``tool.driver``. An artifact rather
than a table in the observer, because only the provider knows the version it really ran
(options may override the pin) and can ask its tool for the titles of the rules it reported;
and because the stage cache restores provider artifacts, a cached lint still has them.

A third-party linter may record the same artifact::

    ctx.add_artifact("lint-tool", "mylint", version="v1.2.0", informationUri="https://…",
                     rules={"ML001": {"shortDescription": "…", "helpUri": "https://…"}})

``name`` must be the ``tool`` of the linter's findings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gopipe.artifacts import Artifact
from gopipe.context import ProviderContext

KIND = "lint-tool"
_SEMVER = re.compile(r"^(?:v|go)?(\d+\.\d+(?:\.\d+)?(?:[-+][0-9A-Za-z.+-]*)?)$")


@dataclass(frozen=True)
class Rule:
    """One rule as SARIF's ``reportingDescriptor`` shows it."""

    short: str = ""
    help_uri: str | None = None
    tags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"shortDescription": self.short}
        if self.help_uri:
            data["helpUri"] = self.help_uri
        if self.tags:
            data["tags"] = list(self.tags)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rule:
        uri = data.get("helpUri")
        return cls(
            short=str(data.get("shortDescription") or ""),
            help_uri=str(uri) if uri else None,
            tags=tuple(str(t) for t in data.get("tags") or ()),
        )


@dataclass(frozen=True)
class Driver:
    """A linter as SARIF's ``tool.driver``: the findings' ``tool`` name and what it knows."""

    name: str
    version: str | None = None
    information_uri: str | None = None
    rules: Mapping[str, Rule] = field(default_factory=dict)

    def to_sarif(self, rule_ids: list[str]) -> dict[str, Any]:
        """The ``toolComponent``, with a descriptor for each of ``rule_ids`` (in that order)."""
        driver: dict[str, Any] = {"name": self.name}
        if self.version:
            driver["version"] = self.version
            semver = _SEMVER.match(self.version)
            if semver:
                driver["semanticVersion"] = semver[1]
        if self.information_uri:
            driver["informationUri"] = self.information_uri
        driver["rules"] = [self.descriptor(rule) for rule in rule_ids]
        return driver

    def descriptor(self, rule_id: str) -> dict[str, Any]:
        rule = self.rules.get(rule_id, Rule())
        data: dict[str, Any] = {"id": rule_id, "shortDescription": {"text": rule.short or rule_id}}
        if rule.help_uri:
            data["helpUri"] = rule.help_uri
        if rule.tags:
            data["properties"] = {"tags": list(rule.tags)}
        return data


def record(ctx: ProviderContext[object], driver: Driver) -> None:
    """Record ``driver`` for the SARIF observer (call before :func:`report`, which may fail)."""
    extra: dict[str, Any] = {"rules": {k: v.to_json() for k, v in sorted(driver.rules.items())}}
    if driver.version:
        extra["version"] = driver.version
    if driver.information_uri:
        extra["informationUri"] = driver.information_uri
    ctx.add_artifact(KIND, driver.name, **extra)


def from_artifact(artifact: Artifact) -> Driver:
    extra = artifact.extra
    rules = extra.get("rules")
    version, uri = extra.get("version"), extra.get("informationUri")
    return Driver(
        name=artifact.name,
        version=str(version) if version else None,
        information_uri=str(uri) if uri else None,
        rules={
            str(k): Rule.from_json(v)
            for k, v in (rules.items() if isinstance(rules, Mapping) else ())
            if isinstance(v, Mapping)
        },
    )
