"""Hostile input for the release: its options, the paths it writes, and the GitHub client.

- config: a changelog header template with an unknown field, an exclude that is not a regular
  expression, a sort order that does not exist, a release of an untagged or dirty checkout;
- paths: ``dist/CHANGELOG.md`` planted as a symlink out of the repository (removed, never
  followed); asset names a server would rewrite (``../``, spaces, a leading dot);
- the network client, against the local GitHub server (tests/harness/github_api.py): a token
  echoed back in an error body (masked in stdout, stderr and dist/), huge and malformed JSON,
  a ``Link`` header and an ``upload_url`` that point at another host (the token is not sent).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.core.run_context import GIT, make_run, provider_context
from tests.harness.github_api import FakeGitHub, Reply, fake_github
from tests.hostile.conftest import Sandbox

from gopipe.artifacts import Artifact, sha256_file
from gopipe.errors import StageFailed
from gopipe.secrets import Secret
from gopipe_oci.retry import RetryPolicy
from gopipe_plugins._common.release_assets import release_assets, safe_asset_name
from gopipe_plugins.publish import github as gh

TOKEN = "ghp_" + "Hx7e" * 9
GITHUB = '[tool.gopipe.publish]\nproviders = ["github"]\n[tool.gopipe.publish.github]\n'
FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05)


def tag(sandbox: Sandbox, name: str = "v1.0.0") -> None:
    sandbox.commit()
    subprocess.run(["git", "tag", name], cwd=sandbox.repo, check=True)


# -- config -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "says"),
    [
        (
            '[tool.gopipe.publish.changelog]\nheader = "## {tag} {secret_field}"\n',
            "unknown template variable {secret_field}",
        ),
        ('[tool.gopipe.publish.changelog]\nheader = "## {0}"\n', "positional field {0}"),
        ('[tool.gopipe.publish.changelog]\nexclude = ["(unclosed"]\n', "changelog.exclude[0]"),
        ('[tool.gopipe.publish.changelog]\nsort = "random"\n', "tool.gopipe.publish.changelog.sort"),
        ('[tool.gopipe.publish.changelog]\ngroups = [{ titel = "x" }]\n', "titel"),
        ("[tool.gopipe.publish]\ntag_prefix = 7\n", "tool.gopipe.publish.tag_prefix"),
        ('[tool.gopipe.publish]\nverify = "maybe"\n', "tool.gopipe.publish.verify"),
        ("[tool.gopipe.publish]\nverify = true\n", "tool.gopipe.publish.verify"),
        ('[tool.gopipe.publish]\nsnapshot_uploads = "everywhere"\n', "tool.gopipe.publish.snapshot_uploads"),
        (
            GITHUB + 'prerelease = "maybe"\n',
            "tool.gopipe.publish.github.prerelease",
        ),
        (
            GITHUB + 'token = "ghp_plaintexttokenvalue1234567890"\n',
            "plaintext secret",
        ),
    ],
)
def test_bad_release_options_are_one_line_config_errors(sandbox: Sandbox, body: str, says: str) -> None:
    sandbox.config('targets = ["linux/amd64"]\n' + body)
    tag(sandbox)
    outcome = sandbox.run("run", "release", "--plain", "--no-notify")
    sandbox.check(outcome, code=2, says=says, secrets=["ghp_plaintexttokenvalue1234567890"])


def test_release_of_an_untagged_checkout_is_refused(sandbox: Sandbox) -> None:
    sandbox.commit()
    outcome = sandbox.run("run", "release", "--plain", "--no-notify")
    sandbox.check(outcome, code=2, says="is not a version tag")
    assert outcome.output.count("is not a version tag") == 1


def test_release_of_a_dirty_checkout_is_refused(sandbox: Sandbox) -> None:
    tag(sandbox)
    (sandbox.repo / "go.mod").write_text((sandbox.repo / "go.mod").read_text() + "// edited\n")
    outcome = sandbox.run("run", "release", "--plain", "--no-notify")
    sandbox.check(outcome, code=2, says="uncommitted changes")


@pytest.mark.parametrize("uploader", ["ecr", "s3", "harbor"])
def test_a_loopback_snapshot_refuses_uploaders_it_cannot_confine(sandbox: Sandbox, uploader: str) -> None:
    """ECR, S3 and Harbor's REST API reach hosts without ``registry_access.connect``, so a
    ``snapshot_uploads = "loopback"`` snapshot refuses them before any stage runs."""
    sandbox.config(
        'targets = ["linux/amd64"]\n[tool.gopipe.publish]\nsnapshot_uploads = "loopback"\n'
        f'[tool.gopipe.upload]\nproviders = ["{uploader}"]\n'
        + ('[tool.gopipe.upload.s3]\nbucket = "releases"\n' if uploader == "s3" else "")
    )
    sandbox.commit()
    outcome = sandbox.run("run", "release", "--snapshot", "--plain", "--no-notify")
    sandbox.check(outcome, code=2, says=f"cannot confine {uploader} to this machine")


# -- paths ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_verify_step_refuses_a_config_file_outside_the_repository(sandbox: Sandbox) -> None:
    """The clean clone has only what the commit holds: a config from outside the repository
    cannot be rebuilt, so the verify step says so (exit 2) instead of reading it from there."""
    sandbox.config('targets = ["linux/amd64"]\n')
    tag(sandbox)
    outside = sandbox.sentinel / "outside.toml"
    outside.write_text(
        '[tool.gopipe]\ntargets = ["linux/amd64"]\n[tool.gopipe.package]\nproviders = ["archive"]\n'
    )
    sandbox.before = sandbox.snapshot()
    outcome = sandbox.run("run", "release", "--config", str(outside), "--plain", "--no-notify")
    sandbox.check(outcome, code=2, says="is outside the repository; the clone lacks it")
    assert outcome.report is not None
    assert {s["name"]: s["status"] for s in outcome.report["stages"]}["publish"] == "skipped"


@pytest.mark.slow
def test_a_planted_changelog_symlink_is_removed_not_followed(sandbox: Sandbox) -> None:
    sandbox.config('targets = ["linux/amd64"]\n[tool.gopipe.package]\nproviders = ["archive"]\n')
    tag(sandbox)
    (sandbox.repo / "dist").mkdir(exist_ok=True)
    (sandbox.repo / "dist" / "CHANGELOG.md").symlink_to(sandbox.sentinel / "keep.txt")
    outcome = sandbox.run("run", "release", "--snapshot", "--plain", "--no-notify")
    sandbox.check(outcome, code=0)
    changelog = sandbox.repo / "dist" / "CHANGELOG.md"
    assert not changelog.is_symlink() and changelog.read_text().startswith("## ")


@pytest.mark.parametrize(
    "name", ["../evil.tar.gz", "a b.tar.gz", ".hidden", "x" * 300, "tab\t.zip", "ünï.zip", "nl.tar.gz\n"]
)
def test_asset_names_a_server_would_rewrite_are_refused(name: str) -> None:
    assert safe_asset_name(name) is None


def test_an_artifact_outside_the_repository_is_not_attached(tmp_path: Path) -> None:
    run = make_run(tmp_path / "repo")
    outside = tmp_path / "secret.txt"
    outside.write_text("not for the release\n")
    run.artifacts.add(Artifact("archive", "x", path="../secret.txt", sha256=sha256_file(outside)))
    ctx = provider_context(run, "publish", "github", None)
    with pytest.raises(StageFailed, match="inside the repository"):
        release_assets(ctx, ("archive",))


# -- the GitHub client ------------------------------------------------------------------------------
@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("GH_HOSTILE_TOKEN", TOKEN)
    with fake_github(token=TOKEN) as fake:
        yield fake


def publish(server: FakeGitHub, tmp_path: Path, **kw: Any) -> tuple[Any, list[str]]:
    run = make_run(tmp_path / "repo")
    run.git = replace(GIT, tag="v1.0.0", version="1.0.0")
    dist = run.root / "dist"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "app.tar.gz").write_bytes(b"archive")
    run.artifacts.add(
        Artifact("archive", "app.tar.gz", path="dist/app.tar.gz", sha256=sha256_file(dist / "app.tar.gz"))
    )
    opts = gh.GitHubOptions(
        owner="acme",
        repo="fixture",
        api_url=server.api_url,
        token=Secret(env="GH_HOSTILE_TOKEN"),
        retry=FAST,
        **kw,
    )
    log: list[str] = []
    ctx = provider_context(run, "publish", "github", opts, log)
    return ctx, log


def test_a_token_echoed_in_an_error_body_is_masked(server: FakeGitHub, tmp_path: Path) -> None:
    server.fail_next(Reply.json({"message": f"Bad credentials for token {TOKEN}"}, 401))
    ctx, _ = publish(server, tmp_path)
    with pytest.raises(StageFailed) as failed:
        gh.run(ctx)
    assert TOKEN not in str(failed.value) and "HTTP 401" in str(failed.value)
    assert ctx.redact(TOKEN) != TOKEN  # registered with the run's redactor for every other sink


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b"{" * 200 + b"not json", {"Content-Type": "application/json"}),
        Reply(200, b"[1, 2, 3]", {"Content-Type": "application/json"}),
        Reply(200, b'{"id": "../../etc"}', {"Content-Type": "application/json"}),
        Reply(200, b'{"id": ' + b"9" * 5000 + b"}", {"Content-Type": "application/json"}),
        Reply(
            200, b'{"a": "' + b"x" * (gh.MAX_JSON_BYTES + 10) + b'"}', {"Content-Type": "application/json"}
        ),
    ],
    ids=["malformed", "list-not-object", "id-not-int", "huge-number", "huge-body"],
)
def test_huge_or_malformed_json_fails_the_provider_cleanly(
    server: FakeGitHub, tmp_path: Path, reply: Reply
) -> None:
    server.fail_next(reply, "GET")
    ctx, _ = publish(server, tmp_path)
    with pytest.raises(StageFailed, match="GitHub: "):
        gh.run(ctx)
    assert server.count("POST", "/api/uploads/") == 0


def test_a_link_header_to_another_host_gets_no_token(server: FakeGitHub, tmp_path: Path) -> None:
    with fake_github(token=TOKEN) as elsewhere:
        server.fail_next(Reply.json({"message": "Not Found"}, 404), "GET")
        server.fail_next(
            Reply.json([], 200, Link=f'<{elsewhere.api_url}/repos/acme/fixture/releases?page=2>; rel="next"'),
            "GET",
        )
        ctx, _ = publish(server, tmp_path)
        with pytest.raises(StageFailed, match="refusing to send the token"):
            gh.run(ctx)
        assert elsewhere.requests == []


def test_an_upload_url_on_another_host_gets_no_token(server: FakeGitHub, tmp_path: Path) -> None:
    with fake_github(token=TOKEN) as elsewhere:
        rel = {"id": 5, "tag_name": "v1.0.0", "upload_url": f"{elsewhere.base}/api/uploads/x{{?name,label}}"}
        server.fail_next(Reply.json(rel, 200), "GET")  # found by tag ...
        server.fail_next(Reply.json(rel, 200), "PATCH")  # ... and updated, naming that upload_url
        ctx, _ = publish(server, tmp_path)
        with pytest.raises(StageFailed, match="refusing to send the token"):
            gh.run(ctx)
        assert elsewhere.requests == []


@pytest.mark.parametrize("key", ["owner", "repo"])
@pytest.mark.parametrize("value", ["../admin", "a/b", "x?y=1", "..", "acme\n"])
def test_owner_and_repo_cannot_change_the_path(
    server: FakeGitHub, tmp_path: Path, key: str, value: str
) -> None:
    ctx, _ = publish(server, tmp_path)
    ctx._options = replace(ctx.options, **{key: value})
    with pytest.raises(StageFailed, match="is not a GitHub name"):
        gh.run(ctx)
    assert server.requests == []


def test_an_api_url_that_is_not_http_is_refused(server: FakeGitHub, tmp_path: Path) -> None:
    ctx, _ = publish(server, tmp_path)
    ctx._options = replace(ctx.options, api_url="file:///etc/passwd")
    with pytest.raises(StageFailed, match="api_url is not an http"):
        gh.run(ctx)


# -- the nfpm packager's options --------------------------------------------------------------------
NFPM = '[tool.gopipe.package]\nproviders = ["nfpm"]\n[tool.gopipe.package.nfpm]\nmaintainer = "A <a@b.c>"\n'


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('[[tool.gopipe.package.nfpm.contents]]\nsrc = "../keep.txt"\ndst = "/etc/x"\n', "contents[0].src"),
        ('[[tool.gopipe.package.nfpm.contents]]\nsrc = "/etc/passwd"\ndst = "/etc/x"\n', "contents[0].src"),
        ('[[tool.gopipe.package.nfpm.contents]]\nsrc = "go.mod"\ndst = "etc/x"\n', "contents[0].dst"),
        ('[[tool.gopipe.package.nfpm.contents]]\nsrc = "go.mod"\ndst = "/usr/../../x"\n', "contents[0].dst"),
        (
            '[[tool.gopipe.package.nfpm.contents]]\ntype = "symlink"\nsrc = "x"\ndst = "/x"\n',
            "contents[0].src",
        ),
        ('[[tool.gopipe.package.nfpm.contents]]\nsrc = "go.mod"\ndst = "/x"\nmode = 99999\n', "mode"),
        ('scripts = { postinstall = "../outside/deep/keep.txt" }\n', "scripts.postinstall"),
        ('bindir = "bin"\n', "bindir"),
        ('formats = ["msi"]\n', "formats"),
        ('name = "{nope}"\n', "unknown template variable {nope}"),
    ],
)
def test_bad_nfpm_options_are_one_line_config_errors(sandbox: Sandbox, body: str, says: str) -> None:
    sandbox.config('targets = ["linux/amd64"]\n' + NFPM + body)
    sandbox.commit()
    outcome = sandbox.run("run", "package", "--plain", "--no-notify")
    sandbox.check(outcome, code=2, says=says)


# -- the helm-chart uploader's chart, paths and values ------------------------------------------------
def _chart(root: Path, values: str = 'image:\n  digest: ""\n', name: str = "demo") -> Path:
    chart = root / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text(values)
    (chart / "templates" / "cm.yaml").write_text("kind: ConfigMap\n")
    return chart


@pytest.mark.parametrize(
    ("values", "path", "says"),
    [
        ('image:\n  digest: ""\n', "image.nope", "values.yaml has no 'image.nope'"),
        ("image:\n  digest:\n    nested: 1\n", "image.digest", "holds a block"),
        ("image:\n  digest: |\n    x\n", "image.digest", "holds a block"),
        ("image: {}\n", "image.digest", "values.yaml has no"),
        ('image:\n  digest: ""\n', "../etc", "not a dotted path"),
        ('image:\n  digest: ""\n', "", "not a dotted path"),
    ],
)
def test_chart_values_paths_that_cannot_be_set_are_refused(
    tmp_path: Path, values: str, path: str, says: str
) -> None:
    from gopipe_plugins._common.chart_files import ChartError, package_chart

    chart = _chart(tmp_path, values)
    with pytest.raises(ChartError, match=re.escape(says)):
        package_chart(
            chart,
            tmp_path,
            version="1.0.0",
            app_version="1.0.0",
            values={path: "sha256:" + "a" * 64},
            mtime=0,
        )


def test_a_digest_with_yaml_syntax_is_written_as_a_quoted_string(tmp_path: Path) -> None:
    from gopipe_plugins._common.chart_files import package_chart

    chart = _chart(tmp_path)
    hostile = 'x"\n: {evil: true}'
    package = package_chart(
        chart, tmp_path, version="1.0.0", app_version="1.0.0", values={"image.digest": hostile}, mtime=0
    )
    import tarfile

    with tarfile.open(package.path) as tar:
        text = tar.extractfile("demo/values.yaml").read().decode()  # type: ignore[union-attr]
    assert text == 'image:\n  digest: "x\\"\\n: {evil: true}"\n'


def test_a_symlink_in_the_chart_is_refused_and_a_bad_name_too(tmp_path: Path) -> None:
    from gopipe_plugins._common.chart_files import ChartError, package_chart

    chart = _chart(tmp_path / "a")
    (chart / "templates" / "passwd.yaml").symlink_to("/etc/passwd")
    with pytest.raises(ChartError, match="is a symlink"):
        package_chart(chart, tmp_path, version="1.0.0", app_version="1.0.0", values={}, mtime=0)
    bad = _chart(tmp_path / "b", name="../../evil")
    with pytest.raises(ChartError, match="not a Helm chart name"):
        package_chart(bad, tmp_path, version="1.0.0", app_version="1.0.0", values={}, mtime=0)


@pytest.mark.slow
@pytest.mark.parametrize("chart", ["../outside", "/etc"])
def test_a_chart_outside_the_repository_is_a_config_error(sandbox: Sandbox, chart: str) -> None:
    sandbox.config(
        'targets = ["linux/amd64"]\n[tool.gopipe.package]\nproviders = ["archive"]\n'
        '[tool.gopipe.upload]\nproviders = ["helm-chart"]\n'
        f'[tool.gopipe.upload.helm-chart]\nregistry = "127.0.0.1:9"\nchart = "{chart}"\n'
    )
    sandbox.commit()
    outcome = sandbox.run("run", "upload", "--plain", "--no-notify")
    sandbox.check(outcome, code=2, says="tool.gopipe.upload.helm-chart.chart")


# -- the GitLab client -----------------------------------------------------------------------------
GL_TOKEN = "glpat-" + "Hq4w" * 5


@pytest.fixture
def gl_server(monkeypatch: pytest.MonkeyPatch) -> Any:
    from tests.harness.gitlab_api import fake_gitlab

    monkeypatch.setenv("GL_HOSTILE_TOKEN", GL_TOKEN)
    with fake_gitlab("acme/fixture", GL_TOKEN) as fake:
        yield fake


def gl_publish(server: Any, tmp_path: Path) -> Any:
    from gopipe_plugins.publish import gitlab as gl

    ctx, _ = publish_ctx_base(tmp_path)
    opts = gl.GitLabOptions(
        project="acme/fixture",
        api_url=server.api_url,
        token=Secret(env="GL_HOSTILE_TOKEN"),
        retry=FAST,
        package_name="app",
    )
    return provider_context(ctx, "publish", "gitlab", opts)


def publish_ctx_base(tmp_path: Path) -> tuple[Any, None]:
    run = make_run(tmp_path / "repo")
    run.git = replace(GIT, tag="v1.0.0", version="1.0.0")
    dist = run.root / "dist"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "app.tar.gz").write_bytes(b"archive")
    run.artifacts.add(
        Artifact("archive", "app.tar.gz", path="dist/app.tar.gz", sha256=sha256_file(dist / "app.tar.gz"))
    )
    return run, None


def test_gitlab_token_echoed_in_an_error_body_is_masked(gl_server: Any, tmp_path: Path) -> None:
    from gopipe_plugins.publish import gitlab as gl

    gl_server.fail_next(Reply.json({"message": f"token {GL_TOKEN} is revoked"}, 403))
    ctx = gl_publish(gl_server, tmp_path)
    with pytest.raises(StageFailed) as failed:
        gl.run(ctx)
    assert GL_TOKEN not in str(failed.value) and "HTTP 403" in str(failed.value)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b"<html>not json", {"Content-Type": "text/html"}),
        Reply(200, b'{"not": "a list"}', {"Content-Type": "application/json"}),
        Reply(
            200,
            b'[{"id": "1; rm -rf /", "name": "app", "version": "1.0.0"}]',
            {"Content-Type": "application/json"},
        ),
        Reply(200, b"[" + b"1," * (4 << 20) + b"1]", {"Content-Type": "application/json"}),
    ],
    ids=["html", "object-not-list", "id-not-int", "huge"],
)
def test_gitlab_malformed_or_huge_answers_fail_cleanly(gl_server: Any, tmp_path: Path, reply: Reply) -> None:
    from gopipe_plugins.publish import gitlab as gl

    gl_server.fail_next(reply, "GET")
    ctx = gl_publish(gl_server, tmp_path)
    with pytest.raises(StageFailed, match="GitLab: "):
        gl.run(ctx)
    assert gl_server.count("PUT") == 0


def test_gitlab_next_page_cannot_leave_the_api(gl_server: Any, tmp_path: Path) -> None:
    from gopipe_plugins.publish import gitlab as gl

    gl_server.fail_next(Reply.json([], 200, **{"X-Next-Page": "http://elsewhere.invalid/steal"}), "GET")
    gl.run(gl_publish(gl_server, tmp_path))  # a non-number next page ends the listing
    assert all(r.path.startswith("/api/v4/") for r in gl_server.requests)


@pytest.mark.slow
@pytest.mark.parametrize("base", ["oci:../outside", "oci:/etc", "oci:dist/../../keep.txt"])
def test_an_oci_layout_base_outside_the_repository_is_a_config_error(sandbox: Sandbox, base: str) -> None:
    sandbox.config(
        'targets = ["linux/amd64"]\n[tool.gopipe.package]\nproviders = ["oci-image"]\n'
        f'[tool.gopipe.package.oci-image]\nbase = "{base}"\n'
    )
    sandbox.commit()
    outcome = sandbox.run("run", "package", "--plain", "--no-notify")
    sandbox.check(outcome, code=2, says="tool.gopipe.package.oci-image.base")


def test_universal_darwin_takes_only_a_boolean(sandbox: Sandbox) -> None:
    sandbox.config('targets = ["darwin/amd64"]\n[tool.gopipe.build.go]\nuniversal_darwin = "yes"\n')
    sandbox.commit()
    outcome = sandbox.run("run", "build", "--plain", "--no-notify")
    sandbox.check(outcome, code=2, says="tool.gopipe.build.go.universal_darwin")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("table", "says"),
    [
        (
            '[tool.gopipe.package.source-archive]\nname_template = "../{project}"\n',
            "source-archive.name_template",
        ),
        (
            '[tool.gopipe.package.source-archive]\nname_template = "{nope}"\n',
            "unknown template variable {nope}",
        ),
        ('[tool.gopipe.package.source-archive]\nformat = "rar"\n', "source-archive.format"),
        ('[tool.gopipe.package.archive]\nbinaries = "hostile"\n', "archive.binaries"),
    ],
)
def test_bad_source_archive_and_archive_binaries_options(sandbox: Sandbox, table: str, says: str) -> None:
    sandbox.config(
        'targets = ["linux/amd64"]\n[tool.gopipe.package]\nproviders = ["archive", "source-archive"]\n'
        + table
    )
    sandbox.commit()
    outcome = sandbox.run("run", "package", "--plain", "--no-notify")
    sandbox.check(outcome, code=2, says=says)


@pytest.mark.slow
def test_oci_image_files_through_a_symlink_out_of_the_repository_are_refused(sandbox: Sandbox) -> None:
    (sandbox.repo / "leak").symlink_to(sandbox.sentinel / "etc" / "passwd")
    sandbox.config(
        'targets = ["linux/amd64"]\n[tool.gopipe.package]\nproviders = ["oci-image"]\n'
        '[tool.gopipe.package.oci-image]\nfiles = { "/etc/passwd" = "leak" }\n'
    )
    sandbox.commit()
    outcome = sandbox.run("run", "package", "--plain", "--no-notify")
    sandbox.check(outcome, code=2, says="tool.gopipe.package.oci-image.files./etc/passwd")


@pytest.mark.slow
def test_a_symlink_inside_kodata_is_kept_as_a_link_never_followed(sandbox: Sandbox) -> None:
    kodata = sandbox.repo / "cmd" / "hostile" / "kodata"
    kodata.mkdir()
    (kodata / "passwd").symlink_to(sandbox.sentinel / "etc" / "passwd")
    sandbox.config(
        'targets = ["linux/amd64"]\n[tool.gopipe.package]\nproviders = ["oci-image"]\n'
        "[tool.gopipe.package.oci-image]\nkodata = true\n"
    )
    sandbox.commit()
    outcome = sandbox.run("run", "package", "--plain", "--no-notify")
    sandbox.check(outcome, code=0)
    blobs = (sandbox.repo / "dist" / "oci" / "hostile" / "blobs" / "sha256").iterdir()
    import gzip

    for blob in blobs:
        data = blob.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        assert b"sentinel etc/passwd" not in data
