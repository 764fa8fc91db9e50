# mypy: disable-error-code="empty-body"
"""The hook points plugins implement.

Registration hooks (one per stage) return typed, named providers; a stage selects among
them by name from config. Observer hooks see the run as it happens. Every hook is called
on a plugin manager created for one run (see :mod:`gopipe.manager`).

Every ``Example::`` below is a complete plugin module that imports only from
:mod:`gopipe.api` and the standard library; ``tests/core/test_hookspec_examples.py`` runs each.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from gopipe.config import Config
    from gopipe.context import RunArgs, RunContext
    from gopipe.report import Report, StageResult
    from gopipe.types import (
        Builder,
        CoverageReporter,
        Deployer,
        Linter,
        Merger,
        Notifier,
        Packager,
        Publisher,
        StageSettings,
        Tester,
        Uploader,
    )

PROJECT = "gopipe"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def gopipe_linters() -> Iterable[Linter[Any]]:
    r'''Register lint providers.

    :return: an iterable of :class:`~gopipe.types.Linter`.

    Example::

        from dataclasses import dataclass

        from gopipe.api import Finding, GoTool, Linter, ProviderContext, doc, hookimpl

        REVIVE = GoTool("revive", "github.com/mgechev/revive", "v1.7.0")


        @dataclass(frozen=True)
        class ReviveOptions:
            """[tool.gopipe.lint.revive]"""

            config: str = doc("revive.toml, relative to the repository; empty = defaults", "")


        def run_revive(ctx: ProviderContext[ReviveOptions]) -> None:
            args = [str(ctx.tool(REVIVE)), "-formatter", "default"]
            if ctx.options.config:
                args += ["-config", ctx.options.config]
            result = ctx.sh([*args, "./..."])
            findings = []
            for line in result.stdout.splitlines():  # file:line:col: message
                file, number, _col, message = line.split(":", 3)
                findings.append(Finding("revive", "revive", message.strip(), file=file, line=int(number)))
            for finding in findings:
                ctx.add_finding(finding)
            ctx.summary = f"revive: {len(findings)} finding(s)"
            if findings:
                first = findings[0]
                where = first.location()
                ctx.fail(f"{len(findings)} finding(s), first at {where}", file=first.file, line=first.line)
            if not result.ok:
                ctx.fail(f"revive exited with {result.returncode}")


        @hookimpl
        def gopipe_linters() -> list[Linter[ReviveOptions]]:
            return [Linter(name="revive", run=run_revive, options=ReviveOptions, description="revive")]
    '''


@hookspec
def gopipe_testers() -> Iterable[Tester[Any]]:
    r"""Register test providers (the default, ``go``, runs ``go test -json -race``).

    :return: an iterable of :class:`~gopipe.types.Tester`.

    Example::

        from gopipe.api import GoTool, NoOptions, ProviderContext, Tester, hookimpl

        GOTESTSUM = GoTool("gotestsum", "gotest.tools/gotestsum", "v1.12.0")


        def run_gotestsum(ctx: ProviderContext[NoOptions]) -> None:
            junit = ctx.out / "gotestsum.xml"
            result = ctx.sh([str(ctx.tool(GOTESTSUM)), "--junitfile", str(junit), "--", "-race", "./..."])
            if junit.is_file():
                ctx.add_artifact("junit", junit.name, junit)
            if not result.ok:
                ctx.fail("go test failed (see the stage log)")
            ctx.summary = "all tests passed"


        @hookimpl
        def gopipe_testers() -> list[Tester[NoOptions]]:
            return [Tester(name="gotestsum", run=run_gotestsum, description="go test via gotestsum")]
    """


@hookspec
def gopipe_coverage_reporters() -> Iterable[CoverageReporter[Any]]:
    r'''Register coverage providers; they read the profile the test stage recorded.

    :return: an iterable of :class:`~gopipe.types.CoverageReporter`.

    Example::

        import json
        from dataclasses import dataclass

        from gopipe.api import CoverageReporter, ProviderContext, doc, hookimpl


        @dataclass(frozen=True)
        class BadgeOptions:
            """[tool.gopipe.coverage.badge]"""

            output: str = doc("shields.io endpoint JSON, under dist/gopipe", "coverage-badge.json")


        def write_badge(ctx: ProviderContext[BadgeOptions]) -> None:
            profiles = ctx.artifacts.of_kind("coverage-profile")
            profile = profiles[-1].path if profiles else None
            if profile is None:
                ctx.fail("no coverage profile (the test stage records one)")
            total = covered = 0
            for line in ctx.repo_path(profile, "profile").read_text().splitlines()[1:]:  # after "mode:"
                _block, statements, count = line.rsplit(" ", 2)
                total += int(statements)
                covered += int(statements) if int(count) > 0 else 0
            percent = 100.0 * covered / total if total else 0.0
            badge = {"schemaVersion": 1, "label": "coverage", "message": f"{percent:.1f}%"}
            path = ctx.dist_path(ctx.options.output, "output", under="gopipe")
            path.write_text(json.dumps(badge), encoding="utf-8")
            ctx.add_artifact("coverage-badge", path.name, path, percent=percent)
            ctx.summary = f"badge: {percent:.1f}%"


        @hookimpl
        def gopipe_coverage_reporters() -> list[CoverageReporter[BadgeOptions]]:
            return [CoverageReporter(name="badge", run=write_badge, options=BadgeOptions)]
    '''


@hookspec
def gopipe_builders() -> Iterable[Builder[Any]]:
    r'''Register build providers; they record ``binary`` artifacts.

    :return: an iterable of :class:`~gopipe.types.Builder`.

    Example::

        from dataclasses import dataclass

        from gopipe.api import Builder, ProviderContext, doc, hookimpl


        @dataclass(frozen=True)
        class TinyGoOptions:
            """[tool.gopipe.build.tinygo]"""

            target: str = doc("tinygo -target, e.g. wasip1 or pico", "wasip1")
            package: str = doc("main package to build", ".")
            output: str = doc("file under dist/ (a template)", "{project}-{version}.wasm")


        def build_with_tinygo(ctx: ProviderContext[TinyGoOptions]) -> None:
            opts = ctx.options
            out = ctx.dist_path(ctx.render(opts.output, key="output"), "output")  # stays below dist/
            out.parent.mkdir(parents=True, exist_ok=True)
            result = ctx.sh(["tinygo", "build", "-target", opts.target, "-o", str(out), opts.package])
            if not result.ok:
                ctx.fail(f"tinygo build failed with exit code {result.returncode}")
            ctx.add_artifact("wasm", out.name, out, target=opts.target)
            ctx.summary = f"tinygo: {out.name}"


        @hookimpl
        def gopipe_builders() -> list[Builder[TinyGoOptions]]:
            return [Builder(name="tinygo", run=build_with_tinygo, options=TinyGoOptions)]
    '''


@hookspec
def gopipe_packagers() -> Iterable[Packager[Any]]:
    r'''Register package providers (images, archives) built from the build stage's binaries.

    :return: an iterable of :class:`~gopipe.types.Packager`.

    Example::

        from dataclasses import dataclass

        from gopipe.api import Packager, ProviderContext, doc, hookimpl


        @dataclass(frozen=True)
        class SumsOptions:
            """[tool.gopipe.package.sha256sums]"""

            output: str = doc("file under dist/", "SHA256SUMS")


        def write_sums(ctx: ProviderContext[SumsOptions]) -> None:
            binaries = ctx.artifacts.of_kind("binary")
            lines = [f"{a.sha256}  {a.path}\n" for a in binaries if a.path and a.sha256]
            if not lines:
                ctx.fail("no binaries to sum (the build stage recorded none)")
            path = ctx.dist_path(ctx.options.output, "output")
            path.write_text("".join(sorted(lines)), encoding="utf-8")
            ctx.add_artifact("sha256sums", path.name, path)
            ctx.summary = f"{len(lines)} binaries summed"


        @hookimpl
        def gopipe_packagers() -> list[Packager[SumsOptions]]:
            return [Packager(name="sha256sums", run=write_sums, options=SumsOptions)]
    '''


@hookspec
def gopipe_uploaders() -> Iterable[Uploader[Any]]:
    r'''Register upload providers (registries, object stores).

    :return: an iterable of :class:`~gopipe.types.Uploader`.

    Example::

        import random
        import time
        import urllib.error
        import urllib.request
        from dataclasses import dataclass

        from gopipe.api import ProviderContext, RetryPolicy, Secret, Uploader, doc, hookimpl


        @dataclass(frozen=True)
        class HttpPutOptions:
            """[tool.gopipe.upload.http-put]"""

            url: str = doc("base URL; each file is PUT to <url>/<file name>", "")
            token: Secret | None = doc('bearer token, e.g. { env = "UPLOAD_TOKEN" }', None)
            kinds: tuple[str, ...] = doc("artifact kinds to upload", ("archive",))
            retry: RetryPolicy = doc("retries of 429, 5xx and connection errors", default_factory=RetryPolicy)


        def put_files(ctx: ProviderContext[HttpPutOptions]) -> None:
            opts = ctx.options
            headers = {"Authorization": f"Bearer {opts.token.reveal()}"} if opts.token else {}
            files = [(a.name, a.path) for kind in opts.kinds for a in ctx.artifacts.of_kind(kind) if a.path]
            rng, retries = random.Random(), 0
            for name, path in files:
                attempt = 0
                while True:
                    attempt += 1
                    body = ctx.repo_path(path, "kinds").read_bytes()
                    request = urllib.request.Request(
                        f"{opts.url.rstrip('/')}/{name}", data=body, method="PUT", headers=headers
                    )
                    try:
                        urllib.request.urlopen(request, timeout=60).close()
                        break
                    except urllib.error.HTTPError as exc:
                        if exc.code != 429 and exc.code < 500:
                            ctx.fail(f"{name}: HTTP {exc.code}")
                        reason = f"HTTP {exc.code}"
                    except OSError as exc:
                        reason = f"connection failed ({type(exc).__name__})"
                    why = opts.retry.gives_up(attempt, retries)
                    if why is not None:
                        ctx.fail(f"{name}: {reason}; giving up, {why}")
                    retries += 1
                    time.sleep(opts.retry.delay(attempt, rng))
                ctx.log(f"uploaded {name}")
            ctx.summary = f"{len(files)} file(s) uploaded"


        @hookimpl
        def gopipe_uploaders() -> list[Uploader[HttpPutOptions]]:
            return [Uploader(name="http-put", run=put_files, options=HttpPutOptions)]
    '''


@hookspec
def gopipe_publishers() -> Iterable[Publisher[Any]]:
    r'''Register publish providers: they turn a version tag's artifacts into a release.

    The ``publish`` stage runs in ``gopipe run release`` after upload, only on a clean
    checkout of a version tag, and never with ``--snapshot``. The release notes are the
    ``changelog`` artifact (``dist/CHANGELOG.md``), written before any stage starts.

    :return: an iterable of :class:`~gopipe.types.Publisher`.

    Example::

        import json
        from dataclasses import dataclass

        from gopipe.api import ProviderContext, Publisher, doc, hookimpl


        @dataclass(frozen=True)
        class ManifestOptions:
            """[tool.gopipe.publish.manifest]"""

            output: str = doc("file under dist/", "release.json")
            kinds: tuple[str, ...] = doc("artifact kinds listed", ("archive", "checksums"))


        def write_manifest(ctx: ProviderContext[ManifestOptions]) -> None:
            files = [a for kind in ctx.options.kinds for a in ctx.artifacts.of_kind(kind)]
            notes = ctx.artifacts.of_kind("changelog")
            body = ctx.repo_path(notes[0].path, "changelog").read_text() if notes and notes[0].path else ""
            release = {
                "tag": ctx.git.tag,
                "version": ctx.git.version,
                "notes": body,
                "assets": [{"name": a.name, "sha256": a.sha256} for a in files],
            }
            path = ctx.dist_path(ctx.options.output, "output")
            path.write_text(json.dumps(release, indent=2), encoding="utf-8")
            ctx.add_artifact("release-manifest", path.name, path)
            ctx.summary = f"{len(files)} asset(s) listed for {ctx.git.tag}"


        @hookimpl
        def gopipe_publishers() -> list[Publisher[ManifestOptions]]:
            return [Publisher(name="manifest", run=write_manifest, options=ManifestOptions)]
    '''


@hookspec
def gopipe_deployers() -> Iterable[Deployer[Any]]:
    r'''Register deploy providers.

    :return: an iterable of :class:`~gopipe.types.Deployer`.

    Example::

        from dataclasses import dataclass

        from gopipe.api import Deployer, ProviderContext, doc, hookimpl


        @dataclass(frozen=True)
        class NomadOptions:
            """[tool.gopipe.deploy.nomad]"""

            job: str = doc("job file, relative to the repository", "deploy/app.nomad.hcl")
            address: str = doc("Nomad API address; empty = $NOMAD_ADDR", "")


        def deploy_to_nomad(ctx: ProviderContext[NomadOptions]) -> None:
            opts = ctx.options
            image = next((str(a.extra["reference"]) for a in ctx.artifacts.of_kind("image")), "")
            verb = "plan" if ctx.args.dry_run else "run"
            env = {"NOMAD_ADDR": opts.address} if opts.address else {}
            variables = ["-var", f"version={ctx.git.version}", "-var", f"image={image}"]
            result = ctx.sh(["nomad", "job", verb, *variables, opts.job], env=env)
            environment = ctx.args.environment or "default"
            if ctx.args.dry_run:  # plan exits 1 when something would change
                ctx.echo(result.stdout)
                ctx.summary = f"nomad: planned {environment}"
                return
            if not result.ok:
                ctx.fail(f"nomad job run failed with exit code {result.returncode}")
            ctx.add_artifact("deployment", environment, environment=environment, outcome="success")
            ctx.summary = f"nomad: deployed {ctx.git.version} to {environment}"


        @hookimpl
        def gopipe_deployers() -> list[Deployer[NomadOptions]]:
            return [Deployer(name="nomad", run=deploy_to_nomad, options=NomadOptions)]
    '''


@hookspec
def gopipe_notifiers() -> Iterable[Notifier[Any]]:
    r'''Register notify providers; they run after every pipeline, passed or failed.

    :return: an iterable of :class:`~gopipe.types.Notifier`.

    Example::

        import json
        import urllib.request
        from dataclasses import dataclass

        from gopipe.api import Notifier, ProviderContext, Secret, doc, hookimpl


        @dataclass(frozen=True)
        class MattermostOptions:
            """[tool.gopipe.notify.mattermost]"""

            webhook: Secret = doc('incoming webhook URL, e.g. { env = "MATTERMOST_WEBHOOK_URL" }')
            message: str = doc("message template", "{project} {version}: {status}")


        def post_to_mattermost(ctx: ProviderContext[MattermostOptions]) -> None:
            report = ctx.report
            if report is None:
                ctx.fail("no run report (notify runs after the pipeline)")
            text = ctx.render(ctx.options.message, key="message", status=report.status)
            request = urllib.request.Request(
                ctx.options.webhook.reveal(),  # masked everywhere from now on
                data=json.dumps({"text": text}).encode(),
                headers={"Content-Type": "application/json"},
            )
            try:
                urllib.request.urlopen(request, timeout=10).close()
            except OSError as exc:
                ctx.fail(ctx.redact(f"Mattermost did not take the message: {exc}"))
            ctx.summary = "sent to Mattermost"


        @hookimpl
        def gopipe_notifiers() -> list[Notifier[MattermostOptions]]:
            return [Notifier(name="mattermost", run=post_to_mattermost, options=MattermostOptions)]
    '''


@hookspec
def gopipe_stage_settings() -> Iterable[StageSettings]:
    r'''Declare stage-level keys a plugin reads (beside ``providers``, ``timeout`` and provider tables).

    The core validates them into the declared dataclass before any stage runs; stages read
    the result as ``config.stage(stage).settings``, providers as ``ctx.stage_settings(options)``.
    ``gopipe schema`` shows them.

    :return: an iterable of :class:`~gopipe.types.StageSettings`, at most one per stage.

    Example::

        from dataclasses import dataclass

        from gopipe.api import Config, ConfigError, Stage, StageSettings, doc, hookimpl


        @dataclass(frozen=True)
        class LintSettings:
            """Stage-level keys of [tool.gopipe.lint] that this plugin's linters read."""

            exclude: tuple[str, ...] = doc("path globs the linters skip, relative to the repository", ())


        def check_lint_settings(config: Config, settings: LintSettings) -> None:
            for pattern in settings.exclude:
                if pattern.startswith("/"):
                    raise ConfigError(
                        config.display_file,
                        "tool.gopipe.lint.exclude",
                        f"{pattern!r} is an absolute path",
                        "write globs relative to the repository",
                    )


        @hookimpl
        def gopipe_stage_settings() -> list[StageSettings]:
            return [StageSettings(stage=Stage.LINT, options=LintSettings, check=check_lint_settings)]
    '''


@hookspec
def gopipe_mergers() -> Iterable[Merger]:
    r'''Register how ``gopipe merge`` folds an artifact kind from fanned-out jobs into one.

    :return: an iterable of :class:`~gopipe.types.Merger`, one per artifact kind the plugin
        produces and knows how to combine (JUnit suites, cover profiles, SARIF runs ...).

    Example::

        from gopipe.api import MergeInput, MergeOutput, Merger, Stage, hookimpl


        def merge_benchmarks(inp: MergeInput) -> MergeOutput:
            """Every job's ``go test -bench`` output, one after the other, in one file."""
            paths = inp.paths()
            if not paths:
                return MergeOutput(problems=["no job uploaded its benchmark results"])
            merged = inp.out / "bench.txt"
            merged.write_text("".join(p.read_text(encoding="utf-8") for p in paths), encoding="utf-8")
            artifact = inp.record("bench", merged, parts=len(paths))
            return MergeOutput(artifacts=[artifact], summary=f"benchmarks of {len(paths)} jobs")


        @hookimpl
        def gopipe_mergers() -> list[Merger]:
            return [Merger(kind="bench", stage=Stage.TEST, merge=merge_benchmarks)]
    '''


@hookspec
def gopipe_configure(config: Config, args: RunArgs) -> None:
    r'''Called once per run after config is loaded and validated, before any stage runs.

    :param config: the validated :class:`~gopipe.config.Config` (read-only). Raise
        :class:`~gopipe.errors.ConfigError` to stop the run with exit code 2.
    :param args: the run's command-line choices (:class:`~gopipe.context.RunArgs`: pipeline,
        targets, ``--env``, ``--dry-run`` …), to check them against the config before anything
        runs. An implementation may leave it out of its signature.

    Example::

        from gopipe.api import Config, ConfigError, hookimpl


        @hookimpl
        def gopipe_configure(config: Config) -> None:
            """House rule: 32-bit targets are no longer built."""
            for target in config.settings.targets:
                if target.endswith(("/386", "/arm")):
                    raise ConfigError(
                        config.display_file,
                        "tool.gopipe.targets",
                        f"32-bit target {target} is not built any more",
                        "remove it from targets",
                    )
    '''


@hookspec
def gopipe_stage_started(run: RunContext, stage: str) -> None:
    r"""Called when a stage starts, from the thread that runs it.

    :param run: the :class:`~gopipe.context.RunContext` of this run.
    :param stage: the stage name, e.g. ``"test"``.

    Example::

        import json
        import time

        from gopipe.api import RunContext, hookimpl


        @hookimpl
        def gopipe_stage_started(run: RunContext, stage: str) -> None:
            line = {"stage": stage, "started": time.time(), "commit": run.git.sha}
            run.out.mkdir(parents=True, exist_ok=True)
            with (run.out / "stage-starts.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")
    """


@hookspec
def gopipe_stage_finished(run: RunContext, result: StageResult) -> None:
    r"""Called when a stage finishes (success, failed, skipped or cancelled).

    :param run: the :class:`~gopipe.context.RunContext` of this run.
    :param result: the stage's :class:`~gopipe.report.StageResult`.

    Example::

        from gopipe.api import RunContext, StageResult, hookimpl


        @hookimpl
        def gopipe_stage_finished(run: RunContext, result: StageResult) -> None:
            if result.name != "lint":
                return
            lines = [f"{f.location()}: {f.message} ({f.tool})" for f in run.artifacts.findings("lint")]
            run.out.mkdir(parents=True, exist_ok=True)
            (run.out / "lint-findings.txt").write_text("".join(f"{line}\n" for line in lines))
    """


@hookspec
def gopipe_run_finished(run: RunContext, report: Report) -> None:
    r"""Called once after every stage (and notify) finished, before the report is written.

    :param run: the :class:`~gopipe.context.RunContext` of this run.
    :param report: the final :class:`~gopipe.report.Report`.

    Example::

        from gopipe.api import Report, RunContext, hookimpl


        @hookimpl
        def gopipe_run_finished(run: RunContext, report: Report) -> None:
            failed = [s.name for s in report.stages if s.status == "failed"]
            line = f"{report.pipeline} {report.status} {report.duration_s:.1f}s failed={','.join(failed)}"
            run.out.mkdir(parents=True, exist_ok=True)
            with (run.out / "runs.log").open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
    """
