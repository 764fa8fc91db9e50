"""The ``gitlab`` publisher against a local GitLab API v4 server (tests/harness/gitlab_api.py).

The server implements the documented calls: generic package upload ``PUT
/projects/:id/packages/generic/:name/:version/:file`` (201), the package and package-file
listings (``file_sha256``; ``X-Next-Page``/``Link`` pagination) and file deletion (204); ``GET``
(404 for none), ``POST`` (201, 409 "Release already exists") and ``PUT`` of
``/projects/:id/releases/:tag``; release links ``GET``/``POST …/assets/links`` (400 "has already
been taken"); 401 without ``PRIVATE-TOKEN``/``JOB-TOKEN``; 429 with ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from tests.harness.github_api import Reply
from tests.harness.gitlab_api import FakeGitLab, fake_gitlab

from gopipe.artifacts import sha256_file
from gopipe.context import ProviderContext, RunContext
from gopipe.errors import StageFailed
from gopipe.secrets import Secret
from gopipe_oci.retry import RetryPolicy
from gopipe_plugins.publish import gitlab as gl

TOKEN = "glpat-" + "Zq8r" * 5
FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)
FILES = {
    "fixture_1.2.0_linux_amd64.tar.gz",
    "checksums.txt",
    "fixture_1.2.0_linux_amd64.cdx.json",
    "fixture_1.2.0_amd64.deb",
}
Make = Callable[..., ProviderContext[Any]]


@pytest.fixture
def gitlab(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitLab]:
    monkeypatch.setenv("GL_TEST_TOKEN", TOKEN)
    with fake_gitlab("acme/fixture", TOKEN, page_cap=2) as server:
        yield server


def options(server: FakeGitLab, **kw: Any) -> gl.GitLabOptions:
    kw.setdefault("retry", FAST)
    return gl.GitLabOptions(
        project="acme/fixture",
        api_url=server.api_url,
        token=Secret(env="GL_TEST_TOKEN"),
        package_name="fixture",
        **kw,
    )


def header(request: Any, name: str) -> str | None:
    return next((v for k, v in request.headers.items() if k.lower() == name.lower()), None)


def ctx_for(release_run: RunContext, opts: gl.GitLabOptions) -> ProviderContext[Any]:
    from tests.core.run_context import provider_context

    return provider_context(release_run, "publish", "gitlab", opts)


def test_release_with_package_files_and_links(gitlab: FakeGitLab, release_run: RunContext) -> None:
    ctx = ctx_for(release_run, options(gitlab))
    gl.run(ctx)
    assert set(gitlab.file_bytes("fixture", "1.2.0")) == FILES
    release = gitlab.releases["v1.2.0"]
    assert release["description"] == "## v1.2.0\n\n- feat: greet\n"
    links = {link["name"]: link for link in release["_links"]}
    assert set(links) == FILES
    assert links["checksums.txt"]["url"].endswith("/packages/generic/fixture/1.2.0/checksums.txt")
    assert links["checksums.txt"]["link_type"] == "package"
    assert all(header(r, "PRIVATE-TOKEN") == TOKEN for r in gitlab.requests)
    assert all(r.path.startswith("/api/v4/projects/acme%2Ffixture/") for r in gitlab.requests)
    assert ctx.summary == "gitlab: created v1.2.0; 4 uploaded, 0 unchanged"


def test_a_second_run_uploads_nothing(gitlab: FakeGitLab, release_run: RunContext) -> None:
    gl.run(ctx_for(release_run, options(gitlab)))
    puts = gitlab.count("PUT", "/packages/generic/")
    ctx = ctx_for(release_run, options(gitlab, name="Release {tag}"))
    gl.run(ctx)
    assert gitlab.count("PUT", "/packages/generic/") == puts
    assert gitlab.releases["v1.2.0"]["name"] == "Release v1.2.0"
    assert len(gitlab.releases["v1.2.0"]["_links"]) == 4
    assert ctx.summary == "gitlab: updated v1.2.0; 0 uploaded, 4 unchanged"
    pages = [r.query.get("page", "1") for r in gitlab.requests if r.path.endswith("/package_files")]
    assert pages[-2:] == ["1", "2"]  # two files per page: the listing was followed


def test_a_changed_file_fails_unless_replace(gitlab: FakeGitLab, release_run: RunContext) -> None:
    gl.run(ctx_for(release_run, options(gitlab)))
    path = release_run.root / "dist" / "checksums.txt"
    path.write_text("changed\n")
    store = release_run.artifacts
    store._artifacts = [
        replace(a, sha256=sha256_file(path)) if a.name == "checksums.txt" else a for a in store._artifacts
    ]
    with pytest.raises(
        StageFailed, match=r"checksums.txt is already in package fixture 1.2.0 with another sha256"
    ):
        gl.run(ctx_for(release_run, options(gitlab)))
    gl.run(ctx_for(release_run, options(gitlab, replace=True)))
    assert gitlab.file_bytes("fixture", "1.2.0")["checksums.txt"] == b"changed\n"
    assert gitlab.count("DELETE") == 1


def test_rate_limits_and_server_errors_are_retried(gitlab: FakeGitLab, release_run: RunContext) -> None:
    gitlab.fail_next(Reply.json({"message": "Retry later"}, 429, **{"Retry-After": "0"}))
    gitlab.fail_next(Reply.json({"message": "500 Internal Server Error"}, 500))
    gl.run(ctx_for(release_run, options(gitlab)))
    assert set(gitlab.file_bytes("fixture", "1.2.0")) == FILES


def test_409_from_a_concurrent_run_updates_the_release(gitlab: FakeGitLab, release_run: RunContext) -> None:
    gl.run(ctx_for(release_run, options(gitlab)))
    gitlab.fail_next(
        Reply.json({"message": "404 Not Found"}, 404), "GET", "/releases/v1.2.0"
    )  # the other run was not there yet
    gl.run(ctx_for(release_run, options(gitlab)))
    assert gitlab.count("POST", "/releases") - gitlab.count("POST", "/assets/links") == 2


def test_a_wrong_token_and_a_job_token(
    gitlab: FakeGitLab, release_run: RunContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GL_TEST_TOKEN", "glpat-" + "w" * 20)
    with pytest.raises(StageFailed, match=r"HTTP 401: .*401 Unauthorized"):
        gl.run(ctx_for(release_run, options(gitlab)))
    monkeypatch.setenv("GL_TEST_TOKEN", TOKEN)
    gl.run(ctx_for(release_run, options(gitlab, token_header="JOB-TOKEN")))
    assert header(gitlab.requests[-1], "JOB-TOKEN") == TOKEN


def test_project_from_the_remote_and_bad_projects(gitlab: FakeGitLab, release_run: RunContext) -> None:
    release_run.git = replace(release_run.git, remote_url="https://gitlab.example/acme/fixture")
    gl.run(ctx_for(release_run, replace(options(gitlab), project="")))
    for bad in ("../admin", "acme/../x", "acme/a b", "a?b"):
        with pytest.raises(StageFailed, match="is not a GitLab project path"):
            gl.run(ctx_for(release_run, replace(options(gitlab), project=bad)))
