"""Credentials inside URLs: remotes are parsed (not pattern-matched) before they reach
GitInfo, and every error that quotes a URL quotes it without userinfo or query."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import gopipe.secrets as gs
from gopipe.git import read_git_info
from gopipe.secrets import MASK, Redactor
from gopipe.testing import make_git_repo
from gopipe_oci import transport
from gopipe_plugins._common.http import describe
from gopipe_plugins.upload.aws import error_text

HOSTILE = [
    # (remote as git stores it, the browsable URL it must become, the credential inside it)
    (
        "https://ci:hunter@2secretpass@git.example.com/org/repo.git",
        "https://git.example.com/org/repo",
        "2secretpass",
    ),
    (
        "https://git.example.com/org/repo.git?access_token=tok-0123456789abcdef",
        "https://git.example.com/org/repo",
        "tok-0123456789abcdef",
    ),
    (
        "https://ghp_0123456789abcdefABCDEF@github.com/o/r",
        "https://github.com/o/r",
        "ghp_0123456789abcdefABCDEF",
    ),
    (
        "https://x-access-token:ghs_0123456789abcdefXYZ@github.com/o/r.git#frag",
        "https://github.com/o/r",
        "ghs_0123456789abcdefXYZ",
    ),
    ("git@github.com:org/repo.git", "https://github.com/org/repo", None),
    (
        "deploy-tok3n-0123456789@git.example.com:org/repo.git",
        "https://git.example.com/org/repo",
        "deploy-tok3n-0123456789",
    ),
    (
        "ssh://git:pa55word-0123@git.example.com:2222/org/repo.git",
        "https://git.example.com/org/repo",
        "pa55word-0123",
    ),
    ("https://git.example.com:8443/org/repo", "https://git.example.com:8443/org/repo", None),
    ("/srv/git/repo.git", "/srv/git/repo", None),
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("remote")
    (path / "README").write_text("remote URL fixture\n")
    return make_git_repo(path)


@pytest.mark.parametrize(("remote", "expected", "credential"), HOSTILE, ids=[h[0][:40] for h in HOSTILE])
def test_remote_url_is_parsed_and_stripped(
    repo: Path, remote: str, expected: str, credential: str | None
) -> None:
    subprocess.run(["git", "remote", "remove", "origin"], cwd=repo, capture_output=True, check=False)
    subprocess.run(["git", "remote", "add", "origin", remote], cwd=repo, check=True)
    info = read_git_info(repo, environ={})
    assert info.remote_url == expected
    if credential:
        assert credential not in str(info.to_json())


@pytest.mark.parametrize(
    "url",
    [
        "https://user:p@ss@word-0123456@registry.example.com:5000/v2/app/blobs/uploads/1?state=secretstate01",
        "https://tok-0123456789abcdef@hooks.example.com/x#access_token=frag0123456789",
        "https://host:notaport/x?sig=sig0123456789",
        "https://[::1:5000/x?token=tok0123456789",  # unbalanced bracket: urlsplit raises
        "user:pass0123456789@host.example.com",
    ],
)
def test_error_helpers_never_raise_nor_quote_credentials(url: str) -> None:
    shown_forms = [gs.safe_url(url), describe(url), transport._safe(url)]
    if "://" in url:  # scrub_urls finds URLs in free text by their scheme
        shown_forms.append(gs.scrub_urls(f"failed: {url} (x)"))
    for shown in shown_forms:
        for credential in (
            "p@ss",
            "word-0123456",
            "secretstate01",
            "tok-0123",
            "frag0123",
            "sig0123",
            "pass0123",
        ):
            assert credential not in shown, (url, shown)


def test_safe_url_keeps_what_says_where() -> None:
    assert (
        gs.safe_url("https://u:p@registry.example.com:5000/v2/app?x=1")
        == "https://registry.example.com:5000/v2/app"
    )
    assert (
        describe("https://u:p@qyapi.example.com/cgi-bin/webhook/send?key=abc") == "https://qyapi.example.com"
    )


def test_aws_errors_quoting_an_endpoint_are_scrubbed() -> None:
    exc = ConnectionError(
        'Could not connect to the endpoint URL: "https://AKIA0123:s3cr3t0123456@s3.example.com/b?X-Amz-Signature=abc0123456789"'
    )
    text = error_text(exc)
    assert "s3cr3t0123456" not in text and "abc0123456789" not in text
    assert "https://s3.example.com/b" in text


@pytest.mark.parametrize(
    ("text", "credential"),
    [
        ("cloning https://ci:hunter@2secretpass@git.example.com/o/r.git failed", "2secretpass"),
        ("cloning https://ghp_0123456789abcdefABCDEF@github.com/o/r failed", "ghp_0123456789abcdefABCDEF"),
        ('{"url":"https://bot:pw0123456789@h.example.com/x","ok":true}', "pw0123456789"),
    ],
)
def test_redactor_masks_every_userinfo_shape(text: str, credential: str) -> None:
    masked = Redactor()(text)
    assert credential not in masked and f"://{MASK}@" in masked
    assert '"ok":true' in masked or "failed" in masked  # the rest of the line survives
