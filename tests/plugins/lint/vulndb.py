"""A local Go vulnerability database (``-db file://…``) in the documented v1 layout.

``index/db.json``, ``index/modules.json``, ``index/vulns.json`` and ``ID/<id>.json`` with OSV
entries; govulncheck cannot reach the public database here, and made-up ids keep the tests
independent of real advisories.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MODIFIED = "2026-01-01T00:00:00Z"


@dataclass(frozen=True)
class Vuln:
    """A made-up vulnerability in ``module``'s ``package``.``symbol``, fixed in ``fixed``."""

    id: str
    summary: str
    module: str
    package: str
    symbol: str
    fixed: str = "0.99.0"
    aliases: tuple[str, ...] = ()


def write_vulndb(root: Path, vulns: list[Vuln]) -> Path:
    (root / "index").mkdir(parents=True)
    (root / "ID").mkdir()
    (root / "index" / "db.json").write_text(json.dumps({"modified": MODIFIED}))
    modules: dict[str, list[dict[str, str]]] = {}
    for v in vulns:
        modules.setdefault(v.module, []).append({"id": v.id, "modified": MODIFIED, "fixed": v.fixed})
    (root / "index" / "modules.json").write_text(
        json.dumps([{"path": m, "vulns": entries} for m, entries in modules.items()])
    )
    (root / "index" / "vulns.json").write_text(
        json.dumps([{"id": v.id, "modified": MODIFIED, "aliases": list(v.aliases)} for v in vulns])
    )
    for v in vulns:
        entry = {
            "schema_version": "1.3.1",
            "id": v.id,
            "modified": MODIFIED,
            "published": MODIFIED,
            "aliases": list(v.aliases),
            "summary": v.summary,
            "details": "Test fixture.",
            "affected": [
                {
                    "package": {"name": v.module, "ecosystem": "Go"},
                    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": v.fixed}]}],
                    "ecosystem_specific": {"imports": [{"path": v.package, "symbols": [v.symbol]}]},
                }
            ],
        }
        (root / "ID" / f"{v.id}.json").write_text(json.dumps(entry))
    return root
