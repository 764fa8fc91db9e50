"""End to end: ``gopipe run`` as a subprocess, every byte of stdout, stderr and dist/ searched.

- a real ``go test`` that prints lines longer than 8 KiB with secrets across the 1 KiB
  chunks ``go test -json`` splits them into, plus their base64, URL-encoded and basic-auth
  forms; two of the secrets are referenced only by the config of a provider this run does
  not select, under names that do not look secret;
- a secret shorter than 6 characters (in a selected and in an unselected provider);
- a FIFO as a ``{ file = … }`` secret (used to hang the run);
- git remotes that carry credentials (``@`` in the password, a token as user name, a token
  in the query).

Each case checks the exit code, that no traceback was printed, that report.json was
written, and that no run of 8 characters of any secret, raw, URL-encoded or base64 (also
inside ``user:secret``), appears anywhere.
"""

from __future__ import annotations

import base64
import json
import os
import secrets as random_tokens
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest

from gopipe.gotools import cache_root

pytestmark = pytest.mark.slow

WINDOW = 8

LEAK_TEST_GO = """package leak

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
)

// Each secret is printed inside a line of more than 8 KiB, starting 1020 bytes into the
// line, so go test -json splits it across two output events.
func TestPrintsSecrets(t *testing.T) {
	for _, name := range []string{"API_TOKEN", "PROD_HOOK", "RELAY_SIGNING"} {
		v := os.Getenv(name)
		fmt.Println(strings.Repeat("a", 1020) + v + strings.Repeat("b", 8000))
		fmt.Println(name, "b64", base64.StdEncoding.EncodeToString([]byte(v)))
		fmt.Println(name, "b64url", base64.URLEncoding.EncodeToString([]byte(v)))
		fmt.Println(name, "query", url.QueryEscape(v), "path", url.PathEscape(v))
		fmt.Println(name, "basic", base64.StdEncoding.EncodeToString([]byte("bot:"+v)))
		t.Log(strings.Repeat("c", 1000) + v + strings.Repeat("d", 8000))
	}
	t.Fatalf("%s%s%s", strings.Repeat("f", 1000), os.Getenv("API_TOKEN"), strings.Repeat("g", 8000))
}
"""

# The webhook notifier is configured but not selected (no [tool.gopipe.notify] providers):
# its secrets are masked only because every reference in the config is registered.
UNSELECTED_NOTIFY = """
[tool.gopipe.notify.webhook]
url = { env = "PROD_HOOK" }
secret = { env = "RELAY_SIGNING" }
"""


@dataclass
class Run:
    code: int
    outputs: dict[str, bytes]
    report: dict[str, object]

    @property
    def text(self) -> str:
        return "\n".join(
            v.decode("utf-8", "replace") for k, v in self.outputs.items() if k in ("stdout", "stderr")
        )


def gopipe(repo: Path, target: str, env: dict[str, str], timeout: float = 600) -> Run:
    cache = repo.parent / "gopipe-cache"
    cache.mkdir(exist_ok=True)
    (cache_root() / "tools").mkdir(parents=True, exist_ok=True)
    if not (cache / "tools").exists():
        (cache / "tools").symlink_to(cache_root() / "tools")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GOPIPE_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "gopipe.cli", "run", target, "-C", str(repo), "--plain"],
        env={**base, "GOPIPE_CACHE": str(cache), **env},
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    outputs = {"stdout": proc.stdout, "stderr": proc.stderr}
    dist = repo / "dist"
    outputs |= {str(p.relative_to(repo)): p.read_bytes() for p in sorted(dist.rglob("*")) if p.is_file()}
    report_file = dist / "gopipe" / "report.json"
    report = json.loads(report_file.read_text()) if report_file.is_file() else {}
    return Run(proc.returncode, outputs, report)


def forms(secret: str) -> set[str]:
    """The secret raw, URL-encoded and base64-encoded (standard and URL-safe)."""
    data = secret.encode()
    return {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        base64.b64encode(data).decode(),
        base64.urlsafe_b64encode(data).decode(),
    }


def leaks(run: Run, secrets: dict[str, str]) -> list[str]:
    found = []
    for label, secret in secrets.items():
        windows = {f[i : i + WINDOW].encode() for f in forms(secret) for i in range(len(f) - WINDOW + 1)}
        # base64 of "bot:<secret>" (basic auth) is offset by 4 bytes: its characters 6 .. are
        # the secret's alone, up to the last one that mixes in the padding
        data = secret.encode()
        basic = base64.b64encode(b"bot:" + data).decode()[6 : (32 + 8 * len(data)) // 6]
        windows |= {basic[i : i + WINDOW].encode() for i in range(len(basic) - WINDOW + 1)}
        for where, data in run.outputs.items():
            hits = sorted(w.decode() for w in windows if w in data)
            if hits:
                found.append(f"{label} in {where}: {hits[:3]}")
    return found


def assert_clean(run: Run, expected_code: int, secrets: dict[str, str]) -> None:
    assert run.code == expected_code, run.text[-3000:]
    assert "Traceback" not in run.text, run.text[-3000:]
    assert run.report, "dist/gopipe/report.json was not written"
    assert run.report["exit_code"] == expected_code
    assert leaks(run, secrets) == []


def secret(kind: str = "") -> str:
    return kind + random_tokens.token_urlsafe(18)


def test_secrets_split_across_go_test_json_chunks_are_masked(go_repo: Path) -> None:
    (go_repo / "internal" / "leak").mkdir(parents=True)
    (go_repo / "internal" / "leak" / "leak_test.go").write_text(LEAK_TEST_GO)
    pyproject = go_repo / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + "\n[tool.gopipe.test.go]\nrace = false\n" + UNSELECTED_NOTIFY
    )
    hook_token = secret()
    values = {
        "API_TOKEN": secret(),  # masked because of its name
        "PROD_HOOK": "https://relay.example.com/hook/" + hook_token,  # only referenced by config
        "RELAY_SIGNING": "p@ss+w/rd=" + secret(),  # characters URL encoding and base64 change
    }
    run = gopipe(go_repo, "test", values)
    # the hook URL's host is no secret (and "example.com" is in the module path): search its token
    assert_clean(run, 1, {**values, "PROD_HOOK": hook_token})
    assert not any(values["PROD_HOOK"].encode() in data for data in run.outputs.values())
    test = next(s for s in run.report["stages"] if s["name"] == "test")  # type: ignore[union-attr]
    assert test["status"] == "failed"
    # not vacuous: the long lines arrived, joined and masked where the secret was
    junit = run.outputs["dist/gopipe/junit.xml"].decode()
    assert "a" * 1020 + "***" + "b" * 100 in junit
    assert "c" * 1000 + "***" + "d" * 100 in junit
    stream = run.outputs["dist/gopipe/test.json"].decode()  # the go test -json stream, kept
    assert "a" * 1020 + "***" + "b" * 100 in stream and "c" * 1000 + "***" + "d" * 100 in stream
    details = test["providers"][0]["details"]
    assert "f" * 100 + "***" + "g" * 100 in details


@pytest.mark.parametrize("selected", [True, False], ids=["selected-provider", "unselected-provider"])
def test_a_secret_shorter_than_6_characters_stops_the_run(tmp_path: Path, selected: bool) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    providers = '[tool.gopipe.notify]\nproviders = ["webhook"]\n' if selected else ""
    (repo / "pyproject.toml").write_text(
        providers + '[tool.gopipe.notify.webhook]\nurl = { env = "RELAY_URL" }\n'
        'secret = { env = "RELAY_SIGNING" }\nretry = { max_attempts = 1 }\n'
    )
    values = {"RELAY_URL": "http://127.0.0.1:9/hook/" + secret()}
    run = gopipe(repo, "notify", {**values, "RELAY_SIGNING": "abc12"}, timeout=120)
    assert_clean(run, 2, values)
    errors = [line for line in run.text.splitlines() if "tool.gopipe.notify.webhook.secret" in line]
    assert len(errors) == 1, run.text
    assert "environment variable RELAY_SIGNING is shorter than 6 characters" in errors[0]
    assert "abc12" not in run.text


def test_a_fifo_as_secret_file_is_a_config_error_not_a_hang(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "secrets").mkdir(parents=True)
    os.mkfifo(repo / "secrets" / "signing")
    (repo / "pyproject.toml").write_text(
        '[tool.gopipe.notify]\nproviders = ["webhook"]\n[tool.gopipe.notify.webhook]\n'
        'url = { env = "RELAY_URL" }\nsecret = { file = "secrets/signing" }\nretry = { max_attempts = 1 }\n'
    )
    values = {"RELAY_URL": "http://127.0.0.1:9/hook/" + secret()}
    run = gopipe(repo, "notify", values, timeout=60)
    assert_clean(run, 2, values)
    assert "tool.gopipe.notify.webhook.secret: secret file" in run.text
    assert "is not a regular file (a FIFO)" in run.text


REMOTES = [
    ("https://ci:hunter@{s}@git.example.com/org/repo.git", "https://git.example.com/org/repo"),
    ("https://git.example.com/org/repo.git?access_token={s}", "https://git.example.com/org/repo"),
    ("https://ghp_{s}@github.com/org/repo", "https://github.com/org/repo"),
    ("ci-{s}@git.example.com:org/repo.git", "https://git.example.com/org/repo"),
]


@pytest.mark.parametrize(
    ("remote", "expected"), REMOTES, ids=["at-in-password", "query", "user-token", "scp"]
)
def test_remote_url_credentials_never_reach_any_output(go_repo: Path, remote: str, expected: str) -> None:
    token = secret()
    subprocess.run(["git", "remote", "add", "origin", remote.format(s=token)], cwd=go_repo, check=True)
    run = gopipe(go_repo, "notify", {}, timeout=120)
    assert_clean(run, 0, {"remote credential": token})
    assert run.report["git"]["remote_url"] == expected  # type: ignore[index]
    metadata = json.loads(run.outputs["dist/gopipe/metadata.json"])
    assert metadata["git"]["remote_url"] == expected
