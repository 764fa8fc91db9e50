"""The coverage profile the test stage recorded, as every coverage provider reads it."""

from __future__ import annotations

from gopipe.context import ProviderContext
from gopipe.paths import artifact_file
from gopipe_plugins._common.coverprofile import Profile, Summary, parse_profile, summarise


def load(ctx: ProviderContext[object]) -> tuple[Profile, Summary]:
    profiles = ctx.artifacts.of_kind("coverage-profile")
    if not profiles or not profiles[-1].path:
        ctx.fail("no coverage profile: the test stage recorded none (did any package have tests?)")
    path = artifact_file(ctx.root, profiles[-1])  # a merged or cached record: inside the repository
    profile = parse_profile(path.read_text())
    return profile, summarise(profile)


def repo_path(ctx: ProviderContext[object], go_file: str) -> str:
    """Map ``example.com/mod/pkg/file.go`` to ``pkg/file.go`` using ``go list``."""
    pkg, _, base = go_file.rpartition("/")
    for p in ctx.go.packages():
        if p.import_path == pkg:
            try:
                return str((p.dir / base).relative_to(ctx.root))
            except ValueError:
                return str(p.dir / base)
    return go_file
