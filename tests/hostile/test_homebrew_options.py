"""Hostile ``[tool.gopipe.publish.homebrew]`` values: a tap, folder, branch or URL that would
write elsewhere, carry credentials or inject into the formula is a one-line config error (exit 2)
before any stage runs, and no credential written into a URL is echoed back."""

from __future__ import annotations

import pytest
from tests.hostile.conftest import Sandbox

pytestmark = pytest.mark.slow

URL_SECRET = "brew-" + "k" * 24


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ('tap = "acme/../../etc"', "tap"),
        ('tap = "acme"', "tap"),
        ('tap = "acme/homebrew-tap/extra"', "tap"),
        ('tap = "../homebrew-tap"', "tap"),
        ('directory = "../Formula"', "directory"),
        ('directory = "/etc"', "directory"),
        ('directory = "Formula/../../x"', "directory"),
        ('directory = "Formula\\n"', "directory"),
        ('branch = "main..evil"', "branch"),
        ('branch = "-d"', "branch"),
        ('branch = "refs/heads/x.lock"', "branch"),
        ('binaries = ["../../bin/sh"]', "binaries[0]"),
        ('binaries = ["a\\"; system \\"id"]', "binaries[0]"),
        ('download_url = "file:///etc/passwd"', "download_url"),
        ('download_url = "http://example.com/{file}"', "download_url"),
        (f'download_url = "https://ci:{URL_SECRET}@example.com/{{file}}"', "download_url"),
        ('download_url = "https://example.com/\\"; system \\"id"', "download_url"),
        ('homepage = "javascript:alert(1)"', "homepage"),
        ('api_url = "http://api.example.com"', "api_url"),
        (f'api_url = "https://x:{URL_SECRET}@api.example.com"', "api_url"),
        ('token = "ghp_literal_token_in_the_config"', "token"),
        ('download_url = "https://example.com/{nope}"', "download_url"),
    ],
    ids=[
        "tap-traversal",
        "tap-no-repo",
        "tap-three-parts",
        "tap-dotdot-owner",
        "dir-up",
        "dir-absolute",
        "dir-inner-up",
        "dir-newline",
        "branch-dotdot",
        "branch-option",
        "branch-lock",
        "binary-path",
        "binary-ruby",
        "url-file",
        "url-http",
        "url-userinfo",
        "url-quote",
        "homepage-js",
        "api-http-remote",
        "api-userinfo",
        "token-literal",
        "url-unknown-variable",
    ],
)
def test_bad_homebrew_options_are_config_errors(sandbox: Sandbox, options: str, key: str) -> None:
    sandbox.config(
        'targets = ["linux/amd64"]\n[tool.gopipe.publish]\nproviders = ["homebrew"]\n'
        f"[tool.gopipe.publish.homebrew]\n{options}\n"
    )
    sandbox.commit()
    outcome = sandbox.run("run", "release", "--snapshot", "--plain")
    sandbox.check(outcome, code=2, says=f"tool.gopipe.publish.homebrew.{key}", secrets=[URL_SECRET])
