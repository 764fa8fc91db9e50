"""Read ``[tool.gopipe]`` from pyproject.toml into a typed :class:`Config`.

Only what needs no plugins is checked here: top-level keys, the shape of each stage table,
its ``providers`` and ``timeout``. The other keys of a stage table are provider tables or
stage settings declared by plugins; :meth:`gopipe.registry.ProviderRegistry.validate` sorts
and types them once the plugin manager exists (:mod:`gopipe.config.stage_settings`), and
provider tables are validated into options only for the providers a run selects.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gopipe.config.options import doc, parse_options, unknown_key_error
from gopipe.config.repo_linters import repo_lint_providers
from gopipe.config.stage_settings import STAGE_KEYS, ValidatedStage
from gopipe.errors import ConfigError
from gopipe.stages import DEFAULT_PROVIDERS, DEFAULT_TIMEOUT_S, Stage

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

MAX_TIMEOUT_S = 7 * 24 * 3600  # a week; more is a typo (and overflows thread waits)
DEFAULT_TARGETS = ("linux/amd64", "linux/arm64", "darwin/arm64", "windows/amd64")

# Top-level tables owned by features other than stages.
EXTENSION_TABLES = frozenset({"github", "modules", "cache"})


@dataclass(frozen=True)
class Settings:
    """Top-level ``[tool.gopipe]`` keys."""

    main: tuple[str, ...] = doc(
        "main packages to build; default: every ./cmd/* main package, else '.'", (), unique=True
    )
    targets: tuple[str, ...] = doc(
        "GOOS/GOARCH[/variant] build targets", DEFAULT_TARGETS, min_items=1, unique=True
    )
    dist: str = doc("output directory, relative to the repository", "dist")
    disable_plugins: tuple[str, ...] = doc("plugin names to block before entry points load", ())
    env: dict[str, str] = doc("environment for every Go command (GOFLAGS, GOPRIVATE …)", default_factory=dict)
    requires: tuple[str, ...] = doc(
        "pip requirements this config needs, e.g. 'gopipe-foo>=1.2': checked before every run "
        "and installed by the generated GitHub workflows",
        (),
        unique=True,
    )


@dataclass(frozen=True)
class StageConfig:
    """One ``[tool.gopipe.<stage>]`` table.

    ``providers`` and ``timeout_s`` are checked on load; every other key stays in ``entries``
    as written. ``settings`` (the typed stage settings) and ``tables`` (provider tables)
    exist once :meth:`gopipe.registry.ProviderRegistry.validate` has validated the table.
    """

    stage: Stage
    providers: tuple[str, ...]
    timeout_s: float
    entries: Mapping[str, Any] = field(default_factory=dict)
    explicit: bool = False  # True when the user wrote ``providers``
    validated: ValidatedStage | None = field(default=None, repr=False)

    @property
    def settings(self) -> Any:
        """The declared stage settings, e.g. ``NotifySettings``; ``NoSettings()`` if none."""
        return self._validated().settings

    @property
    def tables(self) -> Mapping[str, Mapping[str, Any]]:
        """``[tool.gopipe.<stage>.<provider>]`` tables, as written."""
        return self._validated().tables

    def _validated(self) -> ValidatedStage:
        if self.validated is None:
            raise RuntimeError(
                f"[tool.gopipe.{self.stage.value}] is not validated yet: "
                "pass the config through ProviderRegistry.validate() first"
            )
        return self.validated


@dataclass(frozen=True)
class Config:
    root: Path
    file: Path
    settings: Settings
    stages: Mapping[Stage, StageConfig]
    raw: Mapping[str, Any]
    present: bool  # False when pyproject.toml has no [tool.gopipe] (zero-config)

    @property
    def dist(self) -> Path:
        return self.root / self.settings.dist

    @property
    def out(self) -> Path:
        """Where gopipe's own outputs go (report, events, junit …)."""
        return self.dist / "gopipe"

    @property
    def display_file(self) -> str:
        return _display(self.file)

    def stage(self, stage: Stage | str) -> StageConfig:
        return self.stages[Stage(stage)]


def load_config(root: Path, file: Path | None = None) -> Config:
    """Load ``file`` (default ``root/pyproject.toml``); absent file or table means defaults.

    A file named on the command line must exist; only the default may be absent (zero-config).
    """
    if not root.is_dir():
        raise ConfigError(
            "command line", "-C", f"{root} is not a directory", "pass the Go repository with -C"
        )
    root = root.resolve()
    explicit = file is not None
    file = (file or root / "pyproject.toml").resolve()
    raw, present = read_tool_table(file, explicit=explicit)
    return config_from_raw(root, file, raw, present=present)


def read_tool_table(file: Path, *, explicit: bool = False) -> tuple[Mapping[str, Any], bool]:
    """``[tool.gopipe]`` of ``file`` as written, and whether the table is there at all."""
    shown = _display(file)
    raw: Mapping[str, Any] = {}
    present = False
    if explicit and not file.is_file():
        raise ConfigError(
            "command line", "--config", f"{shown} is not a file", "pass an existing pyproject.toml"
        )
    if file.exists() and not file.is_file():
        raise ConfigError(shown, "", "not a regular file", "make pyproject.toml a TOML file")
    if file.is_file():
        try:
            with file.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(shown, "", f"invalid TOML: {exc}", "fix the TOML syntax") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(
                shown, "", f"not UTF-8 ({exc.reason} at byte {exc.start})", "save the file as UTF-8"
            ) from None
        except OSError as exc:
            raise ConfigError(shown, "", f"cannot read it: {exc.strerror}", "check its permissions") from None
        tool = data.get("tool", {})
        if "gopipe" in tool:
            present = True
            raw = tool["gopipe"]
            if not isinstance(raw, Mapping):
                raise ConfigError(shown, "tool.gopipe", "expected a table", "write [tool.gopipe]")
    return raw, present


def config_from_raw(root: Path, file: Path, raw: Mapping[str, Any], *, present: bool) -> Config:
    """Check a ``[tool.gopipe]`` table (as read, or layered for a module) into a Config of ``root``."""
    shown = _display(file)
    top = {k: v for k, v in raw.items() if k not in _stage_names() and k not in EXTENSION_TABLES}
    allowed_top = {*Settings.__dataclass_fields__, *_stage_names(), *EXTENSION_TABLES}
    for name in top:
        if name not in Settings.__dataclass_fields__:
            raise unknown_key_error(shown, f"tool.gopipe.{name}", name, allowed_top)
    settings = parse_options(Settings, top, file=shown, key="tool.gopipe", base=root)
    dist = (root / settings.dist).resolve()
    if (
        dist == root
        or not dist.is_relative_to(root)
        or dist.name == ".git"
        or ".git" in Path(settings.dist).parts
    ):
        raise ConfigError(
            shown,
            "tool.gopipe.dist",
            f"{settings.dist!r} is not a directory inside the repository",
            'use a relative path below the repository, e.g. dist = "dist"',
        )
    out = (dist / "gopipe").resolve()  # gopipe's own outputs: a symlink there must not lead out
    if not out.is_relative_to(dist) or out == dist:
        raise ConfigError(
            shown,
            "tool.gopipe.dist",
            f"{settings.dist}/gopipe is a symlink that leaves {settings.dist}/",
            f"remove {settings.dist}/gopipe (gopipe creates it)",
        )
    for target in settings.targets:
        if target.count("/") not in (1, 2):
            raise ConfigError(
                shown,
                "tool.gopipe.targets",
                f"invalid target {target!r}",
                'write targets as "GOOS/GOARCH", e.g. "linux/amd64"',
            )
    stages = {stage: _stage_config(stage, raw.get(stage.value, {}), shown) for stage in Stage}
    stages[Stage.LINT] = _with_repo_linters(stages[Stage.LINT], root)
    return Config(root=root, file=file, settings=settings, stages=stages, raw=raw, present=present)


def inert_tables(config: Config) -> list[str]:
    """Provider tables that no stage selects: their options and secrets do nothing, which is
    usually a forgotten ``providers`` entry or a misspelt provider name.

    Only validated stages are looked at: a stage whose table failed validation has its error.
    """
    found = []
    for stage, stage_config in config.stages.items():
        if stage_config.validated is None:
            continue
        for name in stage_config.validated.tables:
            if name not in stage_config.providers:
                found.append(
                    f"{config.display_file}: [tool.gopipe.{stage.value}.{name}] is inert: "
                    f"'{name}' is not in [tool.gopipe.{stage.value}] providers; add it there or remove it"
                )
    return found


def _stage_names() -> set[str]:
    return {s.value for s in Stage}


def _stage_config(stage: Stage, table: Any, shown: str) -> StageConfig:
    key = f"tool.gopipe.{stage.value}"
    if not isinstance(table, Mapping):
        raise ConfigError(shown, key, "expected a table", f"write [{key}]")
    providers = table.get("providers")
    if providers is not None and (
        not isinstance(providers, list) or not all(isinstance(p, str) for p in providers)
    ):
        raise ConfigError(
            shown,
            f"{key}.providers",
            "expected an array of provider names",
            f'write providers = ["{(DEFAULT_PROVIDERS[stage] or ("name",))[0]}"]',
        )
    timeout = table.get("timeout", DEFAULT_TIMEOUT_S[stage])
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not 0 < timeout <= MAX_TIMEOUT_S  # also refuses nan
    ):
        raise ConfigError(
            shown,
            f"{key}.timeout",
            f"expected seconds > 0 and at most {MAX_TIMEOUT_S}, got {timeout!r}",
            "set timeout = 600",
        )
    return StageConfig(
        stage=stage,
        providers=tuple(providers) if providers is not None else DEFAULT_PROVIDERS[stage],
        timeout_s=float(timeout),
        entries={name: value for name, value in table.items() if name not in STAGE_KEYS},
        explicit=providers is not None,
    )


def _with_repo_linters(lint: StageConfig, root: Path) -> StageConfig:
    """Unless ``providers`` is set, the linters the repository's own config chose (a
    ``.golangci.yml`` selects golangci-lint, :mod:`gopipe.config.repo_linters`)."""
    found = None if lint.explicit else repo_lint_providers(root)
    return replace(lint, providers=found) if found else lint


def _display(file: Path) -> str:
    try:
        return str(file.relative_to(Path.cwd()))
    except ValueError:
        return str(file)
