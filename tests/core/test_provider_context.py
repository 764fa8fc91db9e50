"""What a provider sees: curated, read-only views of the run, and no way into the runner."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from tests.core.run_context import GIT, console_text, make_run, provider_context

from gopipe.api import Artifacts, ConfigError, Finding, NoOptions, ProviderContext, Report, RunArgs

PUBLIC = {
    # views of the run
    "options", "config", "git", "args", "env", "artifacts", "report", "root", "dist", "out", "go",
    "render", "stage_settings", "run_started_at",
    # confinement: paths from config, templates and other runs' outputs
    "repo_path", "dist_path",
    # secrets
    "redact", "redact_obj", "add_secret", "clip",
    # output
    "log", "log_block", "progress", "echo",
    # acting
    "sh", "tool", "add_artifact", "add_finding", "fail",
}  # fmt: skip


def test_the_context_shows_only_the_curated_api(tmp_path: Path) -> None:
    ctx = provider_context(make_run(tmp_path), "build", "probe", NoOptions())
    assert {name for name in dir(ProviderContext) if not name.startswith("_")} == PUBLIC
    own = {name for name in vars(ctx) if not name.startswith("_")}
    assert own == {"stage", "provider", "tracker", "summary"}
    assert not hasattr(ctx, "run")


def test_views_are_read_only(tmp_path: Path) -> None:
    run = make_run(tmp_path, env={"GOFLAGS": "-trimpath"}, args=RunArgs(pipeline="ci", dry_run=True))
    ctx = provider_context(run, "build", "probe", NoOptions())
    assert ctx.config is run.config and ctx.git == GIT
    assert ctx.env["GOFLAGS"] == "-trimpath"
    with pytest.raises(TypeError):
        ctx.env["GOFLAGS"] = "-race"  # type: ignore[index]
    assert ctx.args.dry_run is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.args.dry_run = False  # type: ignore[misc]
    assert isinstance(ctx.artifacts, Artifacts)
    assert not hasattr(ctx.artifacts, "add") and not hasattr(ctx.artifacts, "add_finding")


def test_artifacts_and_findings_go_in_through_the_context(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    ctx = provider_context(run, "lint", "probe", NoOptions())
    binary = tmp_path / "dist" / "hello"
    binary.parent.mkdir(parents=True, exist_ok=True)  # the event log made dist/gopipe
    binary.write_bytes(b"\x7fELF")
    ctx.add_artifact("binary", "hello", binary, os="linux", arch="amd64")
    ctx.add_finding(Finding("probe", "rule", "bad line", file="main.go", line=3))
    (art,) = ctx.artifacts.of_kind("binary")
    assert (art.path, art.stage, art.provider, art.os) == ("dist/hello", "lint", "probe", "linux")
    assert list(ctx.artifacts) == [art] and len(ctx.artifacts) == 1
    assert [f.location() for f in ctx.artifacts.findings("lint")] == ["main.go:3"]
    assert ctx.artifacts.findings("test") == []
    run.events.close()
    assert '"event": "artifact"' in (run.out / "events.jsonl").read_text()


def test_render_report_and_secrets(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    ctx = provider_context(run, "notify", "probe", NoOptions())
    assert (
        ctx.render("{project}-{version}-{short_commit}-{x}", x="y") == "project-1.4.0-3f2a9c1-y"
    )  # no remote, no go.mod
    with pytest.raises(ConfigError, match=r"notify.probe.message: .*unknown template variable \{nope\}"):
        ctx.render("{nope}", key="message")
    assert ctx.report is None
    run.report = Report("ci", "success", 0.0, 1.0, GIT, [], [])
    assert ctx.report is run.report
    ctx.add_secret("token-3f9a81c2")
    assert ctx.redact("auth token-3f9a81c2") == "auth ***"
    masked = ctx.redact_obj({"a": ["token-3f9a81c2"], "b": ("x token-3f9a81c2",), "n": 1})
    assert masked == {"a": ["***"], "b": ("x ***",), "n": 1}
    ctx.echo("shown: token-3f9a81c2")
    assert "shown: ***" in console_text(run)
    assert "token-3f9a81c2" not in console_text(run)
