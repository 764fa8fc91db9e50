"""The ``homebrew`` publisher on a tagged two-binary fixture: formula, tap commit, re-runs.

Real components: ``go build`` for darwin and linux (amd64, arm64), the ``archive`` packager, the
local GitHub REST server (tests/harness/github_api.py) serving the documented contents API of
the tap repository: ``GET /repos/{o}/{r}/contents/{path}`` (200 with base64 ``content`` and the
blob ``sha``, 404 when missing) and ``PUT /repos/{o}/{r}/contents/{path}`` (``message``,
``content``, ``sha`` for an update: 201 created, 200 updated, 409 when the ``sha`` is stale,
422 when it is missing for an existing file).

``brew`` is not available on this machine (and needs macOS or Linuxbrew plus network), so the
formula is validated with Ruby itself (Debian package ``ruby``, scripts/deps/apt-release.txt):
``ruby -c`` checks its syntax, and it is loaded under a small stand-in for Homebrew's formula
DSL (``Formula``, ``on_macos``/``on_linux``, ``Hardware::CPU``) that records what each
platform gets, so the URLs, SHA-256s and installed binaries are read back from the Ruby, and a
description full of Ruby syntax is shown to stay a plain string.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.harness.github_api import FakeGitHub, Reply, fake_github

from gopipe.testing import RunResult, make_git_repo

pytestmark = pytest.mark.slow

TOKEN = "ghp_" + "brew" * 9
GIT_ENV = {
    "GIT_AUTHOR_NAME": "gopipe",
    "GIT_AUTHOR_EMAIL": "ci@example.com",
    "GIT_COMMITTER_NAME": "gopipe",
    "GIT_COMMITTER_EMAIL": "ci@example.com",
}
MAIN = (
    'package main\n\nimport "fmt"\n\nvar version = "dev"\n\n'
    'func main() {{ fmt.Println("{name}", version) }}\n'
)
HOSTILE_DESC = 'Two "tools" #{`touch pwned`} \\ #@x done'
CONFIG = """[tool.gopipe]
main = ["./cmd/duo", "./cmd/duoctl"]
targets = ["darwin/amd64", "darwin/arm64", "linux/amd64", "linux/arm64"]

[tool.gopipe.package]
providers = ["archive"]

[tool.gopipe.publish]
providers = ["homebrew"]

[tool.gopipe.publish.homebrew]
tap = "acme/homebrew-tap"
owner = "acme"
repo = "duo"
description = {desc}
license = "MIT"
api_url = "{api_url}"
token = {{ env = "BREW_E2E_TOKEN" }}
retry = {{ base_delay = 0.01, max_delay = 0.1 }}
"""

# A stand-in for the part of Homebrew's DSL a bottle-less formula uses; prints what one
# platform (ARGV[1] = mac|linux, ARGV[2] = intel|arm) gets as JSON.
DSL = r"""
require "json"
$os, $cpu = ARGV[1], ARGV[2]
$seen = { "install" => [] }
module Hardware
  module CPU
    def self.intel?; $cpu == "intel"; end
    def self.arm?; $cpu == "arm"; end
    def self.is_64_bit?; true; end
  end
end
class Formula
  %w[desc homepage version license url sha256].each do |m|
    define_singleton_method(m) { |v| $seen[m] = v }
  end
  def self.on_macos; yield if $os == "mac"; end
  def self.on_linux; yield if $os == "linux"; end
  def self.test(&block); $seen["test"] = !block.nil?; end
  class Bin
    def install(*names); $seen["install"].concat(names); end
  end
  def bin; Bin.new; end
end
before = Object.constants
load ARGV[0]
klass = (Object.constants - before).map { |c| Object.const_get(c) }.find { |c| c.is_a?(Class) && c < Formula }
$seen["class"] = klass.name
klass.new.install
puts JSON.generate($seen)
"""


def ruby() -> str:
    found = shutil.which("ruby")
    if found is None:
        pytest.fail("ruby is required (Debian package ruby, scripts/deps/apt-release.txt)", pytrace=False)
    return found


def load_formula(formula: Path, os_name: str, cpu: str, tmp: Path) -> dict[str, Any]:
    dsl = tmp / "dsl.rb"
    dsl.write_text(DSL)
    done = subprocess.run(
        [ruby(), str(dsl), str(formula), os_name, cpu],
        cwd=tmp,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return dict(json.loads(done.stdout))


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, env={**os.environ, **GIT_ENV}, capture_output=True)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    monkeypatch.setenv("BREW_E2E_TOKEN", TOKEN)
    with fake_github("acme", "duo", TOKEN) as fake:
        fake.add_repository("acme", "homebrew-tap")
        yield fake


@pytest.fixture
def duo(tmp_path: Path, server: FakeGitHub) -> Path:
    repo = tmp_path / "duo"
    for name in ("duo", "duoctl"):
        (repo / "cmd" / name).mkdir(parents=True)
        (repo / "cmd" / name / "main.go").write_text(MAIN.format(name=name))
    (repo / "go.mod").write_text("module example.com/duo\n\ngo 1.24\n")
    desc = json.dumps(HOSTILE_DESC)  # a TOML basic string is JSON-compatible here
    (repo / "pyproject.toml").write_text(CONFIG.format(api_url=server.api_url, desc=desc))
    make_git_repo(repo)
    git(repo, "tag", "v1.0.0")
    git(repo, "commit", "-q", "--allow-empty", "-m", "feat: more")
    git(repo, "tag", "v1.1.0")
    return repo


def contents_calls(server: FakeGitHub, method: str) -> int:
    return server.count(method, "/repos/acme/homebrew-tap/contents/")


def test_formula_is_committed_to_the_tap_then_left_alone_then_updated(
    duo: Path, server: FakeGitHub, gopipe_run: Callable[..., RunResult], tmp_path: Path
) -> None:
    first = gopipe_run(duo, "release", "--no-notify")
    assert first.exit_code == 0, first.report.get("error") or first.report["stages"]
    formula = duo / "dist" / "homebrew" / "duo.rb"
    subprocess.run([ruby(), "-c", str(formula)], check=True, capture_output=True)
    [recorded] = [a for a in first.report["artifacts"] if a["kind"] == "homebrew-formula"]
    assert recorded["extra"]["outcome"] == "created" and recorded["extra"]["tap_path"] == "Formula/duo.rb"
    assert server.file("acme/homebrew-tap", "Formula/duo.rb") == formula.read_bytes()
    assert [c["message"] for c in server.commits] == ["duo 1.1.0"]

    archives = {(a["os"], a["arch"]): a for a in first.report["artifacts"] if a["kind"] == "archive"}
    assert len(archives) == 4
    for (goos, arch), archive in archives.items():
        platform = ("mac" if goos == "darwin" else "linux", "intel" if arch == "amd64" else "arm")
        seen = load_formula(formula, *platform, tmp_path)
        assert seen["url"] == f"https://github.com/acme/duo/releases/download/v1.1.0/{archive['name']}"
        assert seen["sha256"] == archive["sha256"]
        assert seen["install"] == ["duo", "duoctl"]
        assert (seen["class"], seen["version"], seen["license"]) == ("Duo", "1.1.0", "MIT")
        assert seen["desc"] == HOSTILE_DESC and seen["test"] is True
    assert not (tmp_path / "pwned").exists()

    # the same tag again: the tap already has this formula, nothing is committed
    puts = contents_calls(server, "PUT")
    again = gopipe_run(duo, "release", "--no-notify")
    assert again.exit_code == 0, again.report["stages"]
    assert contents_calls(server, "PUT") == puts and len(server.commits) == 1
    [recorded] = [a for a in again.report["artifacts"] if a["kind"] == "homebrew-formula"]
    assert recorded["extra"]["outcome"] == "unchanged"

    # a new release updates the file with its sha, re-reading once after a 409 (stale sha)
    git(duo, "commit", "-q", "--allow-empty", "-m", "fix: later")
    git(duo, "tag", "v1.2.0")
    server.fail_next(Reply.json({"message": "Formula/duo.rb does not match 0000"}, 409), "PUT")
    gets = contents_calls(server, "GET")
    update = gopipe_run(duo, "release", "--no-notify")
    assert update.exit_code == 0, update.report["stages"]
    assert contents_calls(server, "GET") == gets + 2
    [recorded] = [a for a in update.report["artifacts"] if a["kind"] == "homebrew-formula"]
    assert recorded["extra"]["outcome"] == "updated"
    assert [c["message"] for c in server.commits] == ["duo 1.1.0", "duo 1.2.0"]
    last_put = [r for r in server.requests if r.method == "PUT"][-1]
    assert json.loads(last_put.body)["sha"]  # an update names the blob it replaces
    tapped = server.file("acme/homebrew-tap", "Formula/duo.rb")
    assert tapped is not None and b'version "1.2.0"' in tapped and b"/v1.2.0/" in tapped

    # --snapshot publishes nothing: not one request
    git(duo, "commit", "-q", "--allow-empty", "-m", "feat: unreleased")
    before = len(server.requests)
    snap = gopipe_run(duo, "release", "--snapshot", "--no-notify")
    assert snap.exit_code == 0, snap.report["stages"]
    assert len(server.requests) == before
    assert TOKEN not in (duo / "dist" / "gopipe" / "report.json").read_text()


def test_a_formula_edited_by_hand_in_the_tap_is_replaced_through_its_sha(
    duo: Path, server: FakeGitHub, gopipe_run: Callable[..., RunResult]
) -> None:
    server.files[("acme/homebrew-tap", "main", "Formula/duo.rb")] = b"class Duo < Formula\nend\n"
    result = gopipe_run(duo, "release", "--no-notify")
    assert result.exit_code == 0, result.report["stages"]
    [recorded] = [a for a in result.report["artifacts"] if a["kind"] == "homebrew-formula"]
    assert recorded["extra"]["outcome"] == "updated"
    formula = (duo / "dist" / "homebrew" / "duo.rb").read_bytes()
    assert server.file("acme/homebrew-tap", "Formula/duo.rb") == formula


def test_the_contents_server_answers_as_documented(server: FakeGitHub) -> None:
    """Without the ``sha`` of an existing file: 422; with a stale one: 409; a new file: 201."""
    import base64
    import urllib.error
    import urllib.request

    url = f"{server.api_url}/repos/acme/homebrew-tap/contents/Formula/x.rb"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    def put(**body: str) -> tuple[int, dict[str, Any]]:
        data = json.dumps({"message": "m", "content": base64.b64encode(b"x").decode(), **body}).encode()
        req = urllib.request.Request(url, data=data, headers=headers, method="PUT")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    status, created = put()
    blob = subprocess.run(["git", "hash-object", "--stdin"], input=b"x", capture_output=True, check=True)
    assert status == 201 and created["content"]["sha"] == blob.stdout.decode().strip()
    assert put()[0] == 422
    assert put(sha="0" * 40)[0] == 409
    assert put(sha=created["content"]["sha"])[0] == 200
