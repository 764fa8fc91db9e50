"""Turn what the user asked for (``ci``, ``cd``, stage names) into a DAG of stages."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gopipe.errors import ConfigError
from gopipe.stages import DEPENDS_ON, PIPELINES, Stage


@dataclass(frozen=True)
class Plan:
    """Stages in a valid order plus each one's dependencies inside the plan.

    Notify is not part of the DAG: it runs after everything else, whatever happened.
    """

    name: str
    stages: tuple[Stage, ...]
    needs: Mapping[Stage, tuple[Stage, ...]]
    notify: bool = True


def make_plan(targets: Sequence[str], *, notify: bool = True) -> Plan:
    """Expand pipelines, pull in data dependencies, and order the stages."""
    wanted: list[Stage] = []
    for target in targets:
        if target in PIPELINES:
            wanted.extend(PIPELINES[target])
        else:
            try:
                stage = Stage(target)
            except ValueError:
                names = [*PIPELINES, *(s.value for s in Stage)]
                hint = difflib.get_close_matches(target, names, n=1)
                raise ConfigError(
                    "command line",
                    "run",
                    f"unknown pipeline or stage {target!r}",
                    f"did you mean '{hint[0]}'?" if hint else "choose one of: " + ", ".join(names),
                ) from None
            if stage is not Stage.NOTIFY:
                wanted.append(stage)
    selected: set[Stage] = set()
    frontier = list(wanted)
    while frontier:
        stage = frontier.pop()
        if stage not in selected:
            selected.add(stage)
            frontier.extend(DEPENDS_ON[stage])
    ordered = tuple(s for s in Stage if s in selected)  # Stage order is a topological order
    needs = {s: tuple(d for d in DEPENDS_ON[s] if d in selected) for s in ordered}
    return Plan(name="+".join(targets) or "ci", stages=ordered, needs=needs, notify=notify)
