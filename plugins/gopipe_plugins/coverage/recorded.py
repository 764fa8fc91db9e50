"""The coverage profile the test stage recorded, as every coverage provider reads it."""

from __future__ import annotations

from gopipe.context import ProviderContext
from gopipe.paths import artifact_file
from gopipe_plugins._common.coverprofile import Profile, Summary, parse_profile, summarise
from gopipe_plugins._common.repo_paths import repository_path, repository_root


def load(ctx: ProviderContext[object]) -> tuple[Profile, Summary]:
    profiles = ctx.artifacts.of_kind("coverage-profile")
    if not profiles or not profiles[-1].path:
        ctx.fail("no coverage profile: the test stage recorded none (did any package have tests?)")
    path = artifact_file(ctx.root, profiles[-1])  # a merged or cached record: inside the repository
    profile = parse_profile(path.read_text())
    return profile, summarise(profile)


def repo_path(ctx: ProviderContext[object], go_file: str) -> str:
    """Map ``example.com/mod/pkg/file.go`` to ``pkg/file.go`` using ``go list``: relative to
    the repository (``services/api/pkg/file.go`` for a module in ``services/api``), as
    Codecov and the step summary resolve it against the checkout."""
    pkg, _, base = go_file.rpartition("/")
    for p in ctx.go.packages():
        if p.import_path == pkg:
            return repository_path(p.dir / base, ctx.root, repository_root(ctx.root)) or str(p.dir / base)
    return go_file
