"""Stage-level keys of ``[tool.gopipe.<stage>]``, validated once against the installed plugins.

A stage table holds ``providers``, ``timeout``, one table per provider, and the keys declared
for the whole stage (``StageSettings`` from the ``gopipe_stage_settings`` hook, e.g. deploy's
``environments``; the core declares notify's ``fail_on_error`` itself because the runner reads
it). Which keys are declared is known only once the plugin manager exists, so
:func:`~gopipe.config.load_config` keeps them as written and :func:`validate_stage` sorts and
types them later, with the validator provider options use (did-you-mean, types, secrets only
by reference). Stages and providers then read a typed object, never the raw table.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

from gopipe.config.options import did_you_mean, doc, parse_options, unknown_key_error
from gopipe.errors import ConfigError
from gopipe.secrets import Redactor
from gopipe.stages import Stage

if TYPE_CHECKING:
    from gopipe.config.loader import Config

# Keys every stage table may hold; checked on load, before plugins are known.
STAGE_KEYS = frozenset({"providers", "timeout"})


@dataclass(frozen=True)
class NoSettings:
    """Settings of a stage that declares none beyond ``providers`` and ``timeout``."""


@dataclass(frozen=True)
class NotifySettings:
    """Stage-level keys of ``[tool.gopipe.notify]``; the runner reads them after notify ran."""

    fail_on_error: bool = doc("a failed notifier fails an otherwise green run", False)


@dataclass(frozen=True)
class ChangelogGroup:
    """One heading of the release notes and the commits it takes (the first group that matches)."""

    title: str = doc("the group's heading, e.g. 'Features'")
    types: tuple[str, ...] = doc("conventional-commit types it takes ('feat', 'fix'); '*' = any", ())
    breaking: bool = doc("take breaking changes ('feat!:' or a 'BREAKING CHANGE:' footer)", False)


DEFAULT_CHANGELOG_GROUPS = (
    ChangelogGroup("Breaking changes", breaking=True),
    ChangelogGroup("Features", types=("feat",)),
    ChangelogGroup("Bug fixes", types=("fix",)),
    ChangelogGroup("Other changes", types=("*",)),
)


@dataclass(frozen=True)
class ChangelogSettings:
    """``[tool.gopipe.publish.changelog]``: the release notes, from git history since the last tag."""

    enabled: bool = doc("write dist/CHANGELOG.md before a release's stages run", True)
    groups: tuple[ChangelogGroup, ...] = doc(
        "headings in order; a commit goes into the first group that matches, none = left out",
        DEFAULT_CHANGELOG_GROUPS,
    )
    exclude: tuple[str, ...] = doc("regular expressions; a commit whose subject matches is left out", ())
    sort: Literal["", "asc", "desc"] = doc(
        "order inside a group: '' = git order (newest first), 'asc' or 'desc' by subject", ""
    )
    header: str = doc(
        "first line (a template: {tag} {version} {previous_tag} {date} {project})", "## {tag} ({date})"
    )


@dataclass(frozen=True)
class PublishSettings:
    """Stage-level keys of ``[tool.gopipe.publish]``; the core reads them to check the tag and
    write the changelog before any stage runs."""

    tag_prefix: str = doc(
        "version tags of the module released here, e.g. 'services/api' for services/api/v1.2.3; "
        "empty = the module's own directory in the repository",
        "",
    )
    changelog: ChangelogSettings = doc("release notes", default_factory=ChangelogSettings)
    verify: Literal["require", "warn", "off"] = doc(
        "before upload and publish, rebuild the release in a clean clone elsewhere and compare: "
        "'require' = a difference refuses the release, 'warn' = warn and publish, 'off' = no rebuild",
        "require",
    )
    snapshot_uploads: Literal["none", "loopback"] = doc(
        "what a --snapshot release uploads: 'none' = nothing is sent anywhere; 'loopback' = the "
        "upload stage runs, to registries on this machine only (sign, attest and check the release "
        "locally with cosign and oras); publish is skipped either way",
        "none",
    )


@dataclass(frozen=True)
class ValidatedStage:
    """The plugin-dependent half of a stage table: typed settings and the provider tables."""

    settings: Any
    tables: Mapping[str, Mapping[str, Any]]


def settings_keys(options: type[Any]) -> frozenset[str]:
    """The keys an options dataclass accepts (what ``parse_options`` takes)."""
    return frozenset(f.name for f in fields(options) if f.init)


def validate_stage(
    config: Config,
    stage: Stage,
    *,
    providers: Collection[str],
    options: type[Any] = NoSettings,
    check: Callable[[Config, Any], None] | None = None,
    redactor: Redactor | None = None,
) -> ValidatedStage:
    """Split ``[tool.gopipe.<stage>]`` into typed settings and provider tables.

    ``providers`` are the names installed for the stage; ``options`` the declared settings
    dataclass and ``check`` its optional preflight. A table that names no installed provider
    is kept (its plugin may not be installed here) unless it looks like a typo of one.
    """
    shown = config.display_file
    key = f"tool.gopipe.{stage.value}"
    declared = settings_keys(options)
    allowed = STAGE_KEYS | declared | set(providers)
    data: dict[str, Any] = {}
    tables: dict[str, Mapping[str, Any]] = {}
    for name, value in config.stage(stage).entries.items():
        if name in declared:
            data[name] = value
        elif name in providers:
            if not isinstance(value, Mapping):
                raise ConfigError(
                    shown,
                    f"{key}.{name}",
                    f"expected a table of {name} options, got {type(value).__name__} {value!r}"[:200],
                    f"write [{key}.{name}]",
                )
            tables[name] = value
        elif not isinstance(value, Mapping):
            raise unknown_key_error(shown, f"{key}.{name}", name, allowed)
        elif hint := did_you_mean(name, providers):
            raise ConfigError(shown, f"{key}.{name}", f"no provider '{name}' for stage '{stage}'", hint)
        elif did_you_mean(name, STAGE_KEYS | declared):
            raise unknown_key_error(shown, f"{key}.{name}", name, allowed)
        else:
            tables[name] = value
    settings = parse_options(options, data, file=shown, key=key, base=config.root, redactor=redactor)
    if check is not None:
        check(config, settings)
    return ValidatedStage(settings=settings, tables=tables)
