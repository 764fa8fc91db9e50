"""``gopipe new-plugin NAME``: a ready-to-publish plugin distribution.

The scaffold is the documented path for third-party plugins (``docs/plugins.md``): a
``pyproject.toml`` with the ``gopipe`` entry point (its name is the plugin name that
``disable_plugins`` blocks), one provider with a typed options dataclass, and tests that
use gopipe's pytest plugin (``go_repo``, ``gopipe_plugin_manager``, ``run_stage``). It
works as generated: ``pip install -e .[test] && pytest`` passes before any edit.

The generated code is written against the plugin-author facade alone: the provider imports
only ``gopipe.api`` and the tests only ``gopipe.testing``, so what a new author copies from
is the supported surface, not gopipe's internals (``tests/core/test_wheel.py`` runs it
against an installed wheel).
"""

from __future__ import annotations

import re
from pathlib import Path

from gopipe.errors import ConfigError
from gopipe.registry import REGISTRATION_HOOKS
from gopipe.stages import DEPENDS_ON, Stage
from gopipe.types import PROVIDER_TYPES

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def scaffold_plugin(name: str, stage: str = "notify", output: Path = Path(".")) -> list[str]:
    """Write ``OUTPUT/gopipe-NAME/``; return one line per file for the user."""
    if not _NAME.match(name):
        raise ConfigError(
            "command line",
            "new-plugin",
            f"invalid plugin name {name!r}",
            "use lower-case letters, digits and dashes, e.g. 'teams' or 'my-linter'",
        )
    try:
        st = Stage(stage)
    except ValueError:
        raise ConfigError(
            "command line",
            "new-plugin --stage",
            f"unknown stage {stage!r}",
            "choose one of: " + ", ".join(s.value for s in Stage),
        ) from None
    dist = f"gopipe-{name}"
    module = "gopipe_" + name.replace("-", "_")
    target = output / dist
    if target.exists():
        raise ConfigError(str(target), "", "already exists", "choose another NAME or directory")
    files = {
        "pyproject.toml": _PYPROJECT.format(dist=dist, name=name, module=module, stage=st.value),
        "README.md": _README.format(dist=dist, name=name, stage=st.value),
        f"src/{module}/__init__.py": f'"""gopipe plugin {name!r}: a {st.value} provider."""\n',
        f"src/{module}/py.typed": "",
        f"src/{module}/plugin.py": _plugin_source(name, st),
        "tests/test_plugin.py": _test_source(name, module, st),
    }
    said = []
    for rel, text in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        said.append(f"wrote {path}")
    said.append(f"next: cd {target} && pip install -e '.[test]' && pytest")
    return said


def _needs(stage: Stage) -> list[Stage]:
    """Stages a run of ``stage`` pulls in; the scaffold's tests switch their providers off."""
    found: list[Stage] = []
    frontier = list(DEPENDS_ON[stage])
    while frontier:
        s = frontier.pop()
        if s not in found:
            found.append(s)
            frontier.extend(DEPENDS_ON[s])
    return sorted(found, key=list(Stage).index)


def _plugin_source(name: str, stage: Stage) -> str:
    kind = PROVIDER_TYPES[stage].__name__
    body = {Stage.LINT: _LINT_BODY, Stage.NOTIFY: _NOTIFY_BODY}.get(stage, _GENERIC_BODY)
    description = {
        Stage.LINT: "forbid a pattern in Go files",
        Stage.NOTIFY: "write a message about the run",
    }.get(stage, "record the repository's Go files")
    api = {kind, "ProviderContext", "doc", "hookimpl"}
    if stage in (Stage.LINT, Stage.NOTIFY):
        api.add("ConfigError")
    stdlib = {Stage.LINT: "import re\n", Stage.NOTIFY: ""}.get(stage, "import json\n")
    return _PLUGIN.format(
        name=name,
        stage=stage.value,
        kind=kind,
        hook=REGISTRATION_HOOKS[stage],
        description=f"{description} (template)",
        body=body.format(name=name, stage=stage.value),
        imports=stdlib,
        api=", ".join(_isort_names(api)),
    )


def _isort_names(names: set[str]) -> list[str]:
    """Names of one ``from x import ...`` in the order ruff's isort wants: classes, then the rest."""
    return sorted(names, key=lambda n: (n[:1].islower(), n.lower()))


def _test_source(name: str, module: str, stage: Stage) -> str:
    off = "".join(f'        "{s.value}": {{"providers": []}},\n' for s in _needs(stage))
    body = {Stage.LINT: _LINT_TESTS, Stage.NOTIFY: _NOTIFY_TESTS}.get(stage, _GENERIC_TESTS)
    return _TESTS.format(
        name=name,
        module=module,
        stage=stage.value,
        off=off,
        body=body.format(name=name, stage=stage.value),
        imports="" if stage in (Stage.LINT, Stage.NOTIFY) else "import json\n",
    )


_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.24"]
build-backend = "hatchling.build"

[project]
name = "{dist}"
version = "0.1.0"
description = "gopipe plugin: the '{name}' provider for the {stage} stage"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["gopipe>=0.1"]

[project.optional-dependencies]
test = ["pytest>=8"]

# The entry point name is the plugin name: `disable_plugins = ["{name}"]` blocks it.
[project.entry-points.gopipe]
{name} = "{module}.plugin"

[tool.hatch.build.targets.wheel]
packages = ["src/{module}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

_README = """\
# {dist}

A gopipe plugin: the `{name}` provider for the `{stage}` stage.

```sh
pip install {dist}
gopipe plugins            # lists '{name}' with {dist} and its version
```

Select it in the Go repository's `pyproject.toml`:

```toml
[tool.gopipe.{stage}]
providers = ["{name}"]

[tool.gopipe.{stage}.{name}]
# options: see `gopipe schema` or src/ of this package
```

Develop: `pip install -e '.[test]' && pytest`. Block it without uninstalling:
`disable_plugins = ["{name}"]` in `[tool.gopipe]` or `GOPIPE_DISABLE_PLUGINS={name}`.
"""

_PLUGIN = '''\
"""The '{name}' provider for gopipe's {stage} stage.

Registered through the ``gopipe`` entry point in pyproject.toml; users select it with
``[tool.gopipe.{stage}] providers = ["{name}"]`` and configure it in
``[tool.gopipe.{stage}.{name}]``, which gopipe validates into :class:`Options`.
"""

from __future__ import annotations

{imports}from dataclasses import dataclass

from gopipe.api import {api}


{body}

@hookimpl
def {hook}() -> list[{kind}[Options]]:
    return [{kind}(name="{name}", run=run, options=Options,
            description="{description}")]
'''

_NOTIFY_BODY = '''\
@dataclass(frozen=True)
class Options:
    """[tool.gopipe.notify.{name}]"""

    message: str = doc("message template: {{project}} {{version}} {{commit}} {{short_commit}} {{branch}}",
                       "{{project}} {{version}} ({{short_commit}})")
    output: str = doc("file under dist/gopipe the message is written to", "{name}.txt")


def run(ctx: ProviderContext[Options]) -> None:
    """Render the message from the repository's git facts and deliver it.

    This template writes it to a file; a real notifier posts it to its service here
    (take credentials as ``Secret`` options, never as plain strings).
    """
    fields = {{
        "project": ctx.root.name,
        "version": ctx.git.version,
        "commit": ctx.git.sha,
        "short_commit": ctx.git.short_sha,
        "branch": ctx.git.branch or "",
    }}
    try:
        text = ctx.options.message.format_map(fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError("pyproject.toml", "tool.gopipe.notify.{name}.message",
                          f"bad template {{ctx.options.message!r}} ({{exc}})",
                          "use only: " + ", ".join("{{" + f + "}}" for f in fields)) from None
    path = ctx.dist_path(ctx.options.output, "output", under="gopipe")  # never outside dist/gopipe
    path.write_text(text + "\\n", encoding="utf-8")
    ctx.add_artifact("notification", path.name, path)
    ctx.summary = f"{name}: {{text}}"
'''

_LINT_BODY = '''\
@dataclass(frozen=True)
class Options:
    """[tool.gopipe.lint.{name}]"""

    pattern: str = doc("regular expression that must not appear in Go files", r"\\bFIXME\\b")


def run(ctx: ProviderContext[Options]) -> None:
    """Log every Go line matching ``pattern``; fail at the first one when there are any."""
    try:
        rx = re.compile(ctx.options.pattern)
    except re.error as exc:
        raise ConfigError("pyproject.toml", "tool.gopipe.lint.{name}.pattern",
                          f"not a regular expression ({{exc}})", "fix or quote the pattern") from None
    matches: list[tuple[str, int]] = []
    for path in sorted(ctx.root.rglob("*.go")):
        rel = path.relative_to(ctx.root)
        if any(p.startswith(".") or p in ("vendor", "dist") for p in rel.parts):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if rx.search(line):
                matches.append((rel.as_posix(), number))
                ctx.log(f"{{rel.as_posix()}}:{{number}}: matches {{ctx.options.pattern}}")
    ctx.summary = f"{name}: {{len(matches)}} match(es)"
    if matches:
        file, line = matches[0]
        ctx.fail(f"{{len(matches)}} line(s) match {{ctx.options.pattern}}, first at {{file}}:{{line}}",
                 file=file, line=line, details="\\n".join(f"{{f}}:{{n}}" for f, n in matches))
'''

_GENERIC_BODY = '''\
@dataclass(frozen=True)
class Options:
    """[tool.gopipe.{stage}.{name}]"""

    output: str = doc("file under dist/gopipe this provider writes", "{name}.json")


def run(ctx: ProviderContext[Options]) -> None:
    """Record the repository's Go files; replace with the provider's real work.

    Run commands with ``ctx.sh([...])`` (logged, masked, cancellable), record what you
    produce with ``ctx.add_artifact``, and fail with ``ctx.fail("one line")``.
    """
    listed = ctx.sh(["git", "ls-files", "--", "*.go"], echo=False)
    if not listed.ok:
        ctx.fail("git ls-files failed", details=listed.stderr)
    go_files = sorted(listed.stdout.split())
    path = ctx.dist_path(ctx.options.output, "output", under="gopipe")  # never outside dist/gopipe
    path.write_text(json.dumps({{"version": ctx.git.version, "go_files": go_files}}, indent=2),
                    encoding="utf-8")
    ctx.add_artifact("{name}", path.name, path)
    ctx.summary = f"{name}: {{len(go_files)}} Go file(s)"
'''

_TESTS = '''\
"""Tests for the '{name}' provider, using gopipe's pytest plugin (gopipe.testing).

``go_repo`` is a small Go module in a fresh git repository; ``gopipe_plugin_manager``
is a plugin manager with gopipe's built-ins only, so the tests run the plugin from
source without installing it; ``run_stage`` runs one stage in-process.
"""

from __future__ import annotations

{imports}from pathlib import Path
from typing import Any

from gopipe.testing import PluginManager, run_stage

from {module} import plugin


def config(**options: Any) -> dict[str, Any]:
    return {{
{off}        "{stage}": {{"providers": ["{name}"], "{name}": options}},
    }}


def manager(pm: PluginManager) -> PluginManager:
    pm.register(plugin, name="{name}")
    return pm

{body}

def test_rejects_an_unknown_option(go_repo: Path, gopipe_plugin_manager: PluginManager) -> None:
    result = run_stage(go_repo, "{stage}", config=config(no_such_option=1),
                       pm=manager(gopipe_plugin_manager))
    assert result.exit_code == 2
    assert "no_such_option" in (result.error or "")
'''

_NOTIFY_TESTS = """
def test_writes_the_message(go_repo: Path, gopipe_plugin_manager: PluginManager) -> None:
    result = run_stage(go_repo, "notify", config=config(message="{{project}} at {{short_commit}}"),
                       pm=manager(gopipe_plugin_manager))
    assert result.exit_code == 0, result.error
    assert result.stage("notify").status == "success"
    expected = f"repo at {{result.report.git.short_sha}}\\n"
    assert (go_repo / "dist" / "gopipe" / "{name}.txt").read_text() == expected
    assert [a.name for a in result.artifacts("notification")] == ["{name}.txt"]


def test_unknown_template_variable_is_bad_config(go_repo: Path,
                                                 gopipe_plugin_manager: PluginManager) -> None:
    result = run_stage(go_repo, "notify", config=config(message="{{status}}"),
                       pm=manager(gopipe_plugin_manager))
    notify = result.stage("notify")  # a failed notification does not fail the run by default
    assert notify.status == "failed"
    assert "{name}.message" in (notify.error or "")
"""

_LINT_TESTS = """
def test_clean_repository_passes(go_repo: Path, gopipe_plugin_manager: PluginManager) -> None:
    result = run_stage(go_repo, "lint", config=config(), pm=manager(gopipe_plugin_manager))
    assert result.exit_code == 0, result.error
    assert result.stage("lint").status == "success"


def test_finding_fails_the_stage(go_repo: Path, gopipe_plugin_manager: PluginManager) -> None:
    (go_repo / "todo.go").write_text("package main\\n\\n// FIXME: remove\\n")
    result = run_stage(go_repo, "lint", config=config(), pm=manager(gopipe_plugin_manager))
    assert result.exit_code == 1
    assert "todo.go:3" in (result.stage("lint").error or "")


def test_bad_pattern_is_bad_config(go_repo: Path, gopipe_plugin_manager: PluginManager) -> None:
    result = run_stage(go_repo, "lint", config=config(pattern="(unclosed"),
                       pm=manager(gopipe_plugin_manager))
    assert result.exit_code == 2
    assert "{name}.pattern" in (result.stage("lint").error or "")
"""

_GENERIC_TESTS = """
def test_runs_and_records(go_repo: Path, gopipe_plugin_manager: PluginManager) -> None:
    result = run_stage(go_repo, "{stage}", config=config(), pm=manager(gopipe_plugin_manager))
    assert result.exit_code == 0, result.error
    assert result.stage("{stage}").status == "success"
    assert [a.name for a in result.artifacts("{name}")] == ["{name}.json"]
    recorded = json.loads((go_repo / "dist" / "gopipe" / "{name}.json").read_text())
    assert recorded["go_files"] == ["cmd/fixture/main.go"]
"""
