"""The ``gopipe`` command: run, check, plugins, schema, init, merge, new-plugin, tools.

Only the standard library and gopipe's smallest modules are imported here: ``gopipe --help``
and a typo must answer at once; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from gopipe import __version__

# Everything else is imported by the command that needs it: ``gopipe --help`` should cost
# little more than Python's own start (docs/performance.md).
STAGE_NAMES = ("lint", "test", "coverage", "build", "package", "upload", "publish", "deploy", "notify")


def _complete_targets(**_: object) -> list[str]:
    """Pipelines and stages, for shell completion (only called when completing)."""
    from gopipe.stages import PIPELINES

    return [*PIPELINES, *STAGE_NAMES]


_SHARD = re.compile(r"^(\d+)/(\d+)$")

_EPILOG = """\
pipelines:
  ci        lint, test, coverage, build
  cd        package, upload, deploy (and the build they need)
  release   build, package, upload, publish (HEAD must be a clean version tag)
stages:
  lint test coverage build package upload publish deploy notify
  (a stage pulls in the stages it needs; notify runs after any run, passed or failed)

examples:
  gopipe run                             # the ci pipeline
  gopipe run lint test                   # two stages
  gopipe run test -- -run TestAdd ./internal/...   # arguments after -- go to go test
  gopipe run cd --env staging --dry-run  # show what deploy would change
  gopipe run release --snapshot          # a release build of any commit, published nowhere
  gopipe check                           # validate [tool.gopipe] for every stage
  gopipe run ci --changed-since origin/main  # monorepo: changed modules and their dependants
  gopipe init --github                   # noxfile, config table and workflows

exit codes: 0 success, 1 a stage failed, 2 usage or config error, 130 cancelled
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gopipe",
        description="Go CI/CD pipelines as pluggable nox sessions.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gopipe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-C",
            "--root",
            type=Path,
            default=Path("."),
            help="the Go repository (default: current directory)",
        )
        p.add_argument("--config", type=Path, help="pyproject.toml to read (default: ROOT/pyproject.toml)")

    run = sub.add_parser(
        "run",
        help="run a pipeline (ci, cd) or stages",
        description="Run pipelines or stages in the repository; arguments after -- go to go test.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    targets = run.add_argument("targets", nargs="*", default=["ci"], metavar="PIPELINE_OR_STAGE")
    targets.completer = _complete_targets  # type: ignore[attr-defined]  # read by argcomplete
    common(run)
    run.add_argument(
        "--plain", action="store_true", default=None, help="plain lines instead of the live table"
    )
    run.add_argument("--no-notify", dest="notify", action="store_false")
    run.add_argument(
        "--target",
        dest="build_targets",
        action="append",
        default=[],
        metavar="GOOS/GOARCH",
        help="build only this target (repeatable)",
    )
    run.add_argument("--shard", metavar="I/N", help="run the I-th of N test shards (1-based)")
    run.add_argument("--env", dest="environment", metavar="NAME", help="deploy environment")
    run.add_argument("--dry-run", action="store_true", help="show what deploy would change")
    run.add_argument(
        "--snapshot",
        action="store_true",
        help="version {next_patch}-SNAPSHOT-{short_commit}; no tag needed; upload and publish skipped",
    )
    run.add_argument(
        "--no-cache",
        dest="use_cache",
        action="store_false",
        help="run every stage even if its inputs are unchanged",
    )
    module_options(run)

    check = sub.add_parser(
        "check",
        help="validate [tool.gopipe] for every stage, without running anything",
        description="Every check gopipe run makes before a stage starts, for every stage at once "
        "(like goreleaser check). Exit 0 when the config is valid, 2 on errors; with --strict, "
        "1 when it is valid but has warnings (inert tables).",
    )
    common(check)
    check.add_argument(
        "--strict", action="store_true", help="exit 1 on warnings (inert tables), as CI should"
    )
    plugins = sub.add_parser(
        "plugins",
        help="list every stage's providers",
        description="Every installed provider per stage, whether the config selects it, its plugin "
        "and distribution.",
    )
    common(plugins)
    schema = sub.add_parser(
        "schema",
        help="print the JSON Schema of [tool.gopipe]",
        description="The JSON Schema (draft-07, SchemaStore's partial-*.json shape) of [tool.gopipe] "
        "for the installed plugins. Editors that read SchemaStore (Taplo, Even Better TOML) use it "
        "under tool.gopipe in pyproject.toml.",
    )
    common(schema)
    schema.add_argument(
        "-o", "--output", type=Path, help="write the schema to this file instead of standard output"
    )

    init = sub.add_parser(
        "init",
        help="add gopipe to a Go repository",
        description="Write noxfile.py, a commented [tool.gopipe] table and /dist/ in .gitignore; "
        "with --github, the GitHub Actions workflows too.",
    )
    common(init)
    init.add_argument(
        "--github",
        action="store_true",
        help="also write .github/workflows/gopipe-{ci,cd}.yml from [tool.gopipe]",
    )
    init.add_argument(
        "--check", action="store_true", help="with --github: write nothing, exit 1 if the workflows are stale"
    )
    init.add_argument(
        "--measure",
        action="store_true",
        help="run go test -cover once (at most 300 s) to suggest the current coverage as threshold",
    )

    merge = sub.add_parser(
        "merge",
        help="merge shard/matrix outputs into one report",
        description="Fold the outputs of fanned-out CI jobs into one dist/gopipe, then run coverage "
        "and notify on the merged data.",
    )
    merge.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="a dist/gopipe or dist directory per job, or a directory of them",
    )
    common(merge)
    merge.add_argument(
        "--plain", action="store_true", default=None, help="plain lines instead of the live table"
    )
    merge.add_argument("--no-notify", dest="notify", action="store_false")

    new_plugin = sub.add_parser(
        "new-plugin",
        help="scaffold a third-party plugin distribution",
        description="Create gopipe-NAME/: a provider written against gopipe.api, with tests.",
    )
    new_plugin.add_argument("name", help="provider name users select, e.g. 'teams'")
    new_plugin.add_argument(
        "--stage", default="notify", choices=STAGE_NAMES, help="stage the provider serves"
    )
    new_plugin.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("."),
        help="directory to create gopipe-NAME/ in (default: .)",
    )
    modules = sub.add_parser(
        "modules",
        help="list the repository's Go modules (go.work, else every go.mod)",
        description="The Go modules below the repository's top, what each depends on, and which a "
        "run would select (--module, --changed-since). --json prints a list for a CI matrix.",
    )
    common(modules)
    module_options(modules)
    modules.add_argument(
        "--json", action="store_true", help="a JSON array of modules (path, slug, out …) for a CI matrix"
    )
    verify = sub.add_parser(
        "verify",
        help="rebuild the last run in a clean clone elsewhere and compare every artifact",
        description="Clone the last run's commit into a temporary directory, run its build and "
        "package stages there with an empty dist/, and compare the sha256 of every binary, "
        "archive, checksum file and package and every image index digest. Exit 1 on a difference.",
    )
    common(verify)
    verify.add_argument("--keep", action="store_true", help="keep the temporary clone")
    tools = sub.add_parser(
        "tools",
        help="list the pinned Go tools; --install them into the cache",
        description="The pinned Go tools gopipe installs on first use, and where they are cached.",
    )
    tools.add_argument("--install", action="store_true", help="go install every missing tool now")
    cache = sub.add_parser(
        "cache",
        help="manage the remote cache ([tool.gopipe.cache])",
        description="Apply the retention policy of [tool.gopipe.cache.retention] to the remote cache.",
    )
    cache_sub = cache.add_subparsers(dest="cache_command", required=True)
    prune = cache_sub.add_parser("prune", help="delete entries older than max_age_days or past max_entries")
    common(prune)
    prune.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    return parser


def module_options(parser: argparse.ArgumentParser) -> None:
    """``--module`` and ``--changed-since``: which modules of a monorepo a command covers."""
    parser.add_argument(
        "--module",
        dest="modules",
        action="append",
        default=[],
        metavar="PATH",
        help="only the module in PATH, from the repository's top (repeatable)",
    )
    parser.add_argument(
        "--changed-since",
        metavar="REF",
        help="only modules with files changed since REF, and the modules that depend on them",
    )


COMMANDS = (
    "run",
    "check",
    "plugins",
    "schema",
    "init",
    "merge",
    "modules",
    "new-plugin",
    "tools",
    "verify",
    "cache",
)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    go_args: list[str] = []
    if "--" in argv:  # ``gopipe run test -- -run TestX ./pkg/...``
        cut = argv.index("--")
        argv, go_args = argv[:cut], argv[cut + 1 :]
    parser = _parser()
    if "_ARGCOMPLETE" in os.environ:  # shell completion asks: answer and exit (docs: README)
        import argcomplete

        argcomplete.autocomplete(parser)
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is not None and first not in COMMANDS:
        import difflib

        hint = difflib.get_close_matches(first, COMMANDS, n=1)
        fix = f"did you mean '{hint[0]}'?" if hint else "choose one of: " + ", ".join(COMMANDS)
        print(f"gopipe: error: unknown command {first!r}; {fix}", file=sys.stderr)
        return 2
    ns = parser.parse_args(argv)
    from gopipe.errors import ConfigError

    if go_args and ns.command != "run":
        parser.error("arguments after -- are for go test, with gopipe run")
    try:
        if ns.command == "run":
            return _run(ns, parser, tuple(go_args))
        if ns.command == "check":
            return _check(ns)
        if ns.command == "plugins":
            return _plugins(ns)
        if ns.command == "schema":
            return _schema(ns)
        if ns.command == "init":
            return _init(ns, parser)
        if ns.command == "merge":
            from gopipe.merge import merge_outputs

            return merge_outputs(
                ns.inputs, root=ns.root, config_file=ns.config, plain=ns.plain, notify=ns.notify
            )
        if ns.command == "tools":
            return _tools(ns.install)
        if ns.command == "modules":
            return _modules(ns)
        if ns.command == "verify":
            from gopipe.verify import verify_rebuild

            return verify_rebuild(ns.root, ns.config, keep=ns.keep)
        if ns.command == "cache":
            return _cache_prune(ns)
        if ns.command == "new-plugin":
            from gopipe.scaffold import scaffold_plugin

            for line in scaffold_plugin(ns.name, ns.stage, ns.output):
                print(line)
            return 0
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    parser.error(f"unknown command {ns.command}")
    return 2


def _init(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from gopipe.init import init_github, init_repo

    if ns.check and not ns.github:
        parser.error("--check needs --github (it checks the generated workflows)")
    code = 0
    lines: list[str] = []
    if not ns.check:
        lines += init_repo(ns.root.resolve(), measure=ns.measure)
    if ns.github:
        code, more = init_github(ns.root.resolve(), ns.config, check=ns.check)
        lines += more
    for line in lines:
        print(line)
    return code


def _run(ns: argparse.Namespace, parser: argparse.ArgumentParser, go_args: tuple[str, ...]) -> int:
    from gopipe.context import RunArgs
    from gopipe.lifecycle import run_pipeline

    shard = None
    if ns.shard:
        match = _SHARD.match(ns.shard)
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            parser.error(f"--shard {ns.shard}: expected I/N with 1 <= I <= N, e.g. --shard 2/4")
        shard = (int(match[1]), int(match[2]))
    for target in ns.build_targets:
        if target.count("/") not in (1, 2):
            parser.error(f"--target {target}: expected GOOS/GOARCH, e.g. --target linux/arm64")
    args = RunArgs(
        pipeline="+".join(ns.targets),
        targets=tuple(ns.build_targets),
        shard=shard,
        environment=ns.environment,
        dry_run=ns.dry_run,
        use_cache=ns.use_cache,
        go_args=go_args,
        snapshot=ns.snapshot,
    )
    from gopipe.monorepo import module_session, run_modules, wants_modules

    if wants_modules(ns.root, modules=ns.modules, changed_since=ns.changed_since):
        report = run_modules(
            ns.targets,
            root=ns.root,
            config_file=ns.config,
            args=args,
            plain=ns.plain,
            notify=ns.notify,
            modules=ns.modules,
            changed_since=ns.changed_since,
        )
        return report.exit_code
    if ns.config is None and (
        session := module_session(ns.root, args=args, plain=ns.plain, notify=ns.notify)
    ):
        return session.run(ns.targets).exit_code
    return run_pipeline(
        ns.targets, root=ns.root, config_file=ns.config, args=args, plain=ns.plain, notify=ns.notify
    )


def _cache_prune(ns: argparse.Namespace) -> int:
    from gopipe.remote_cache.prune import prune
    from gopipe_oci import OciError

    try:
        prune(ns.root, ns.config, dry_run=ns.dry_run)
    except (OciError, OSError, LookupError) as exc:
        print(f"error: cache prune failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def _modules(ns: argparse.Namespace) -> int:
    import json

    from gopipe.monorepo import module_listing

    workspace, chosen = module_listing(ns.root, modules=ns.modules, changed_since=ns.changed_since)
    if ns.json:  # a CI matrix: each module's path, artifact-safe slug and output directory
        print(json.dumps([m.to_json() for m in chosen]))
        return 0
    for module in chosen:
        needs = f"  (uses {', '.join(module.depends_on)})" if module.depends_on else ""
        print(f"{module.path:<30} {module.module_path}{needs}")
    print(f"{len(chosen)} of {len(workspace.modules)} modules, from {workspace.source}", file=sys.stderr)
    return 0


def _check(ns: argparse.Namespace) -> int:
    from gopipe.lifecycle import check_config
    from gopipe.stages import Stage

    config, errors, warnings = check_config(ns.root, ns.config)
    checked_modules = 0
    if ns.config is None:
        from gopipe.monorepo import check_modules, wants_modules

        if wants_modules(ns.root):  # and every module's layered config, as a run reads it
            more_errors, more_warnings, checked_modules = check_modules(ns.root)
            errors += [e for e in more_errors if e not in errors]
            warnings += [w for w in more_warnings if w not in warnings]
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if errors:
        return 2
    if warnings and ns.strict:
        print(f"{config.display_file}: {len(warnings)} warning(s); --strict fails on them", file=sys.stderr)
        return 1
    selected = sum(len(config.stage(s).providers) for s in Stage)
    modules = f", {checked_modules} modules" if checked_modules else ""
    print(f"{config.display_file}: ok ({selected} providers in {len(Stage)} stages checked{modules})")
    return 0


def _plugins(ns: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from gopipe.lifecycle import load_for_inspection

    config, registry = load_for_inspection(ns.root, ns.config)
    table = Table(title="gopipe providers", show_lines=False)
    for column in ("stage", "provider", "selected", "plugin", "distribution", "description"):
        table.add_column(column)
    for stage, entry in registry.all():
        chosen = "✔" if entry.name in config.stage(stage).providers else ""
        table.add_row(
            stage.value,
            entry.name,
            chosen,
            entry.plugin,
            f"{entry.distribution} {entry.version}",
            entry.provider.description,
        )
    Console(width=160).print(table)
    return 0


def _tools(install: bool) -> int:
    """Pinned Go tools and their cache paths; CI images pre-warm them with ``--install``."""
    import os

    from gopipe.gotools import TOOLS, GoToolchain

    go = GoToolchain(Path.cwd(), dict(os.environ))
    for tool in TOOLS.values():
        path = go.tool(tool) if install else go.tool_path(tool)
        state = "installed" if path.is_file() else "not installed"
        print(f"{tool.name:<14} {tool.version:<9} {state:<14} {path}")
    return 0


def _schema(ns: argparse.Namespace) -> int:
    import json

    from gopipe.errors import ConfigError
    from gopipe.manager import create_manager, disabled_from_env
    from gopipe.registry import ProviderRegistry
    from gopipe.schema import config_schema

    registry = ProviderRegistry.collect(create_manager(disabled_from_env()))
    text = json.dumps(config_schema(registry), indent=2, ensure_ascii=False) + "\n"
    if ns.output is None:
        sys.stdout.write(text)
        return 0
    try:
        ns.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            str(ns.output), "--output", f"cannot write it: {exc.strerror}", "name a writable file"
        ) from None
    print(f"wrote {ns.output}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
