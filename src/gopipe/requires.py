"""``[tool.gopipe] requires``: the distributions a config needs, checked before a run starts.

A config that selects a provider from a plugin package only works where that package is
installed, in a version that has the options the config uses. Like nox's ``requires``, the
config says so (``requires = ["gopipe-foo>=1.2"]``) and every run checks it first: a missing
or too old distribution fails with one line naming the requirement and the ``pip install``
that fixes it (exit code 2), instead of an "unknown provider" or "unknown key" further on.
The generated GitHub workflows install the same list, so CI and laptops agree.
"""

from __future__ import annotations

import importlib.metadata
import shlex
from collections.abc import Iterator
from typing import TYPE_CHECKING

from gopipe.config import Config
from gopipe.errors import ConfigError

if TYPE_CHECKING:  # packaging is imported only when a config has ``requires`` (most have none)
    from packaging.requirements import Requirement

KEY = "tool.gopipe.requires"


def parse_requires(config: Config) -> list[Requirement]:
    """``requires`` as PEP 508 requirements; a malformed entry is a :class:`ConfigError`."""
    if not config.settings.requires:
        return []
    from packaging.requirements import InvalidRequirement, Requirement

    parsed = []
    for i, text in enumerate(config.settings.requires):
        try:
            parsed.append(Requirement(text))
        except InvalidRequirement as exc:
            raise ConfigError(
                config.display_file,
                f"{KEY}[{i}]",
                f"invalid requirement {text!r}: {exc}",
                'write a pip requirement, e.g. requires = ["gopipe-foo>=1.2"]',
            ) from None
    return parsed


def check_requires(config: Config) -> None:
    """Raise :class:`ConfigError` for the first requirement the installed distributions miss.

    Requirements whose marker does not apply here (``; python_version < '3.11'``) are
    skipped; extras (``gopipe-foo[aws]>=1.2``) are followed into what they pull in, as pip
    would install them.
    """
    for requirement in parse_requires(config):
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        problem = next(_unmet(requirement, set()), None)
        if problem is not None:
            raise ConfigError(
                config.display_file,
                KEY,
                f"{str(requirement)!r} is not satisfied: {problem}",
                f"pip install {shlex.quote(str(requirement))}",
            )


def _unmet(requirement: Requirement, seen: set[tuple[str, frozenset[str]]]) -> Iterator[str]:
    """Why ``requirement`` (and what its extras need) is not installed, if it is not."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    name = canonicalize_name(requirement.name)
    key = (name, frozenset(requirement.extras))
    if key in seen:
        return
    seen.add(key)
    try:
        dist = importlib.metadata.distribution(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        yield f"{requirement.name} is not installed"
        return
    version = dist.version
    if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
        yield f"{requirement.name} {version} is installed"
        return
    for extra in sorted(requirement.extras):
        for text in dist.requires or ():
            needed = Requirement(text)
            marker = needed.marker
            # Only what this extra adds: true with the extra, false without it.
            if marker is None or not marker.evaluate({"extra": extra}) or marker.evaluate({"extra": ""}):
                continue
            needed.marker = None
            for why in _unmet(needed, seen):
                yield f"{why} (needed by {requirement.name}[{extra}])"
