"""The Prometheus text format gopipe pushes, and reading a pushed group back.

The Pushgateway never aggregates: a counter is whatever the pusher last sent. So the pusher
reads its group back (``GET /api/v1/metrics``), adds to the counters and carries forward
series it does not re-measure (other environments' deploy timestamps), then replaces the
whole group with ``PUT``.
"""

from __future__ import annotations

import base64
import math
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

Labels = tuple[tuple[str, str], ...]


def labels(**values: str) -> Labels:
    return tuple(sorted(values.items()))


@dataclass
class Family:
    """One metric: name, type, help and its samples (label set → value)."""

    name: str
    kind: Literal["gauge", "counter"]
    help: str
    samples: dict[Labels, float] = field(default_factory=dict)

    def set(self, value: float, **label_values: str) -> None:
        self.samples[labels(**label_values)] = float(value)

    def get(self, **label_values: str) -> float | None:
        return self.samples.get(labels(**label_values))


def exposition(families: Iterable[Family]) -> str:
    """Text exposition format 0.0.4, without timestamps (the gateway refuses them)."""
    out: list[str] = []
    for fam in families:
        if not fam.samples:
            continue
        if not _NAME.match(fam.name):
            raise ValueError(f"invalid metric name {fam.name!r}")
        out.append(f"# HELP {fam.name} {_escape_help(fam.help)}")
        out.append(f"# TYPE {fam.name} {fam.kind}")
        for label_set, value in sorted(fam.samples.items()):
            inner = ",".join(f'{k}="{_escape_value(v)}"' for k, v in label_set)
            out.append(f"{fam.name}{{{inner}}} {_number(value)}" if inner else f"{fam.name} {_number(value)}")
    return "\n".join(out) + "\n"


def _escape_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def group_path(job: str, grouping: Mapping[str, str]) -> str:
    """``/metrics/job/<job>/<label>/<value>…``; values with ``/`` (or empty) use ``@base64``."""
    parts = ["metrics", *_segment("job", job)]
    for name, value in grouping.items():
        if not _LABEL.match(name):
            raise ValueError(f"invalid grouping label name {name!r}")
        parts.extend(_segment(name, value))
    return "/" + "/".join(parts)


def _segment(name: str, value: str) -> list[str]:
    if value == "" or "/" in value:
        encoded = base64.urlsafe_b64encode(value.encode()).decode() or "="
        return [f"{name}@base64", encoded]
    return [name, urllib.parse.quote(value, safe="")]


def read_group(api: Any, job: str, grouping: Mapping[str, str]) -> dict[str, dict[Labels, float]]:
    """Samples of one pushed group from ``/api/v1/metrics`` JSON: name → labels → value.

    Sample labels exclude ``job``, ``instance`` and the grouping labels (they identify the
    group, not the series).
    """
    key = {"job": job, **grouping}
    groups = api.get("data", []) if isinstance(api, dict) else []
    for group in groups:
        if not isinstance(group, dict) or group.get("labels") != key:
            continue
        found: dict[str, dict[Labels, float]] = {}
        for name, metric in group.items():
            if not isinstance(metric, dict) or "metrics" not in metric:
                continue
            for sample in metric.get("metrics") or []:
                raw = sample.get("value")
                if raw is None:
                    continue
                own = {
                    k: v for k, v in (sample.get("labels") or {}).items() if k not in key and k != "instance"
                }
                found.setdefault(name, {})[labels(**own)] = float(raw)
        return found
    return {}
