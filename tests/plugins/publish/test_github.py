"""The ``github`` publisher against a local GitHub REST server (tests/harness/github_api.py).

The server implements the documented endpoints with GitHub Enterprise's layout: ``GET
/repos/{o}/{r}/releases/tags/{tag}`` (404 for none and for drafts), ``GET /repos/{o}/{r}/releases``
and ``GET …/releases/{id}/assets`` with ``Link`` pagination, ``POST /repos/{o}/{r}/releases``
(201, or 422 ``already_exists`` on ``tag_name``), ``PATCH …/releases/{id}``, the upload to
``upload_url`` with ``name`` and ``label`` (201, 422 ``already_exists`` on ``name``), ``DELETE
…/releases/assets/{id}`` (204), 401 without the token, and the secondary rate limit (403 with
``retry-after``, or ``x-ratelimit-remaining: 0`` with ``x-ratelimit-reset``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from tests.harness.github_api import FakeGitHub, Reply, fake_github

from gopipe.artifacts import sha256_file
from gopipe.context import ProviderContext, RunContext
from gopipe.errors import StageFailed
from gopipe.secrets import Secret
from gopipe_oci.retry import RetryPolicy
from gopipe_plugins.publish import github as gh

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)
ASSETS = {
    "fixture_1.2.0_linux_amd64.tar.gz",
    "checksums.txt",
    "fixture_1.2.0_linux_amd64.cdx.json",
    "fixture_1.2.0_amd64.deb",
}

Make = Callable[..., ProviderContext[Any]]


def options(server: FakeGitHub, **kw: Any) -> gh.GitHubOptions:
    kw.setdefault("retry", FAST)
    return gh.GitHubOptions(
        owner="acme",
        repo="fixture",
        api_url=server.api_url,
        token=Secret(env="GH_TEST_TOKEN"),
        **kw,
    )


def test_creates_the_release_with_every_asset_and_the_changelog(
    github: FakeGitHub, publish_ctx: Make
) -> None:
    ctx = publish_ctx(options(github))
    gh.run(ctx)
    release = github.release_of("v1.2.0")
    assert release is not None
    assert release["body"] == "## v1.2.0\n\n- feat: greet\n"
    assert (release["draft"], release["prerelease"], release["name"]) == (False, False, "v1.2.0")
    assert set(github.asset_bytes("v1.2.0")) == ASSETS
    assert github.asset_bytes("v1.2.0")["checksums.txt"] == b"checksums bytes\n"
    uploads = [r for r in github.requests if r.path.startswith("/api/uploads/")]
    assert {r.query["label"] for r in uploads} == ASSETS  # name and label both sent
    assert all(r.path.startswith(("/api/v3/", "/api/uploads/")) for r in github.requests)  # Enterprise layout
    assert ctx.summary == "github: created v1.2.0; 4 uploaded, 0 unchanged"


def test_a_second_run_uploads_nothing_and_updates_the_release(github: FakeGitHub, publish_ctx: Make) -> None:
    gh.run(publish_ctx(options(github)))
    uploads = github.count("POST", "/api/uploads/")
    ctx = publish_ctx(options(github, name="Release {tag}"))
    gh.run(ctx)
    assert github.count("POST", "/api/uploads/") == uploads
    assert github.count("PATCH") == 1
    assert len(github.releases) == 1
    assert github.release_of("v1.2.0")["name"] == "Release v1.2.0"  # type: ignore[index]
    assert ctx.summary.endswith("0 uploaded, 4 unchanged")


def test_a_changed_asset_fails_unless_replace(
    github: FakeGitHub, publish_ctx: Make, release_run: RunContext
) -> None:
    gh.run(publish_ctx(options(github)))
    path = release_run.root / "dist" / "checksums.txt"
    path.write_text("other bytes\n")
    store = release_run.artifacts
    store._artifacts = [  # the file as this run recorded it: new sha256
        replace(a, sha256=sha256_file(path)) if a.name == "checksums.txt" else a for a in store._artifacts
    ]
    with pytest.raises(
        StageFailed, match=r"checksums.txt is already on the release with another sha256.*replace = true"
    ):
        gh.run(publish_ctx(options(github)))
    assert github.asset_bytes("v1.2.0")["checksums.txt"] == b"checksums bytes\n"
    gh.run(publish_ctx(options(github, replace=True)))
    assert github.asset_bytes("v1.2.0")["checksums.txt"] == b"other bytes\n"
    assert github.count("DELETE", "/releases/assets/") == 1


def test_paging_with_one_asset_per_page(monkeypatch: pytest.MonkeyPatch, release_run: RunContext) -> None:
    token = "ghp_" + "p4g3" * 9
    monkeypatch.setenv("GH_TEST_TOKEN", token)
    with fake_github(token=token, page_cap=1) as server:
        from tests.core.run_context import provider_context

        gh.run(provider_context(release_run, "publish", "github", options(server)))
        ctx = provider_context(release_run, "publish", "github", options(server))
        gh.run(ctx)
        pages = [r for r in server.requests if r.method == "GET" and r.path.endswith("/assets")]
        assert [r.query.get("page", "1") for r in pages] == ["1", "1", "2", "3", "4"]
        assert ctx.summary.endswith("0 uploaded, 4 unchanged")


def test_secondary_rate_limits_are_retried(github: FakeGitHub, publish_ctx: Make) -> None:
    message = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}
    github.fail_next(Reply.json(message, 403, **{"retry-after": "0"}))
    reset = str(int(time.time()))
    github.fail_next(Reply.json(message, 403, **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}))
    github.fail_next(Reply.json({"message": "Server Error"}, 502))
    gh.run(publish_ctx(options(github, retry=replace(FAST, max_attempts=4))))
    assert set(github.asset_bytes("v1.2.0")) == ASSETS


def test_a_plain_403_is_not_retried(github: FakeGitHub, publish_ctx: Make) -> None:
    github.fail_next(Reply.json({"message": "Resource not accessible by integration"}, 403))
    with pytest.raises(StageFailed, match=r"HTTP 403: .*Resource not accessible"):
        gh.run(publish_ctx(options(github)))
    assert len(github.requests) == 1


def test_already_exists_from_a_concurrent_run_updates_that_release(
    github: FakeGitHub, publish_ctx: Make
) -> None:
    gh.run(publish_ctx(options(github)))
    github.fail_next(Reply.json({"message": "Not Found"}, 404), "GET")  # the other run was not there yet
    github.fail_next(Reply.json([], 200), "GET")  # ... nor in the listing
    gh.run(publish_ctx(options(github)))
    assert github.count("POST", "/api/v3/") == 2  # the second answered 422 already_exists
    assert len(github.releases) == 1 and github.count("PATCH") == 1


def test_a_draft_is_found_again_through_the_listing(github: FakeGitHub, publish_ctx: Make) -> None:
    gh.run(publish_ctx(options(github, draft=True)))
    gh.run(publish_ctx(options(github, draft=True)))
    assert len(github.releases) == 1
    assert github.release_of("v1.2.0")["draft"] is True  # type: ignore[index]


def test_prerelease_follows_semver_and_can_be_forced(
    github: FakeGitHub, publish_ctx: Make, release_run: RunContext
) -> None:
    release_run.git = replace(release_run.git, tag="v1.3.0-rc.1", version="1.3.0-rc.1")
    gh.run(publish_ctx(options(github)))
    assert github.release_of("v1.3.0-rc.1")["prerelease"] is True  # type: ignore[index]
    release_run.git = replace(release_run.git, tag="v1.3.0", version="1.3.0")
    gh.run(publish_ctx(options(github, prerelease="true")))
    assert github.release_of("v1.3.0")["prerelease"] is True  # type: ignore[index]


def test_a_wrong_token_fails_with_the_answer(
    github: FakeGitHub, publish_ctx: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GH_TEST_TOKEN", "ghp_" + "w" * 36)
    with pytest.raises(StageFailed, match=r"HTTP 401: .*Bad credentials"):
        gh.run(publish_ctx(options(github)))


def test_owner_and_repo_come_from_the_origin_remote(
    github: FakeGitHub, publish_ctx: Make, release_run: RunContext
) -> None:
    release_run.git = replace(release_run.git, remote_url="https://github.com/acme/fixture")
    gh.run(publish_ctx(replace(options(github), owner="", repo="")))
    assert github.release_of("v1.2.0") is not None


def test_enterprise_upload_base_is_derived_from_the_api_url() -> None:
    assert (
        gh.upload_base(gh.GitHubOptions(api_url="https://ghe.acme.test/api/v3"))
        == "https://ghe.acme.test/api/uploads"
    )
    assert gh.upload_base(gh.GitHubOptions()) == "https://uploads.github.com"
