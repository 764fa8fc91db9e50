"""``homebrew`` publisher: a Homebrew formula for the darwin/linux archives, committed to a tap.

The formula (Ruby) names each archive's download URL and SHA-256 under ``on_macos``/``on_linux``
and ``Hardware::CPU.intel?``/``arm?``, installs the archived binaries into ``bin`` and is
written to ``dist/homebrew/<name>.rb`` (artifact kind ``homebrew-formula``). With ``tap`` set it
is committed to ``<directory>/<name>.rb`` in that repository through GitHub's contents API:
``GET /repos/{o}/{r}/contents/{path}?ref=`` reads the current file (its blob ``sha``), and
``PUT /repos/{o}/{r}/contents/{path}`` with ``message``, base64 ``content``, ``branch`` and —
for an update — that ``sha`` writes it (201 created, 200 updated; 409 when the ``sha`` is
stale, re-read once). A formula already there byte for byte is not committed again, so a re-run
is a no-op. Every string that comes from config is written as a Ruby string literal with
``\\``, ``"`` and ``#`` escaped, so nothing from config is evaluated when brew loads the formula.
Like every publisher it does not run with ``--snapshot``.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from gopipe import hookimpl
from gopipe.artifacts import Artifact
from gopipe.config import Config, doc
from gopipe.context import ProviderContext
from gopipe.errors import ConfigError
from gopipe.paths import artifact_file
from gopipe.secrets import Secret
from gopipe.templates import render_template
from gopipe.types import Publisher
from gopipe_oci.reference import is_loopback
from gopipe_oci.retry import RetryPolicy
from gopipe_plugins._common.http import Client, DeliveryError, snippet

from .github import MAX_JSON_BYTES, GitHubApi, _object, _where, repository

KEY = "tool.gopipe.publish.homebrew"
_GITHUB_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_FORMULA_NAME = re.compile(r"^[a-z0-9][a-z0-9@._+-]{0,99}$")
_DIRECTORY = re.compile(r"^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*$")
_BRANCH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,199}$")
_BINARY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,99}$")
#: Homebrew's CPU predicates for the Go architectures a bottle-less formula can name
_CPU = {"amd64": "Hardware::CPU.intel?", "arm64": "Hardware::CPU.arm?"}
_ARCHIVE_FORMATS = (".tar.gz", ".tgz", ".tar.xz", ".tar.zst", ".zip")


@dataclass(frozen=True)
class HomebrewOptions:
    """[tool.gopipe.publish.homebrew]: a Homebrew formula, optionally committed to a tap."""

    tap: str = doc("tap repository owner/name (acme/homebrew-tap); empty = only dist/homebrew/<name>.rb", "")
    branch: str = doc("tap branch to commit to; empty = the tap's default branch", "")
    directory: str = doc("folder of the formula in the tap", "Formula")
    name: str = doc("formula name (a template; lower case, as brew install NAME)", "{project}")
    description: str = doc("desc of the formula", "")
    homepage: str = doc("homepage; empty = the release repository's page", "")
    license: str = doc("SPDX license of the formula; empty = none", "")
    binaries: tuple[str, ...] = doc("binaries installed into bin; empty = every binary in the archives", ())
    download_url: str = doc(
        "archive download URL template ({owner}, {repo}, {tag}, {file}, {version} …)",
        "https://github.com/{owner}/{repo}/releases/download/{tag}/{file}",
    )
    owner: str = doc("release repository owner for {owner}; empty = from the origin remote", "")
    repo: str = doc("release repository name for {repo}; empty = from the origin remote", "")
    test: str = doc('Ruby of the formula\'s test block; empty = assert_path_exists bin/"NAME"', "")
    commit_message: str = doc("commit message (a template; {name} = the formula)", "{name} {version}")
    api_url: str = doc(
        "REST API of the tap's host: https://api.github.com, or https://HOST/api/v3",
        "https://api.github.com",
    )
    token: Secret = doc(
        'token with contents: write on the tap, e.g. { env = "HOMEBREW_TAP_TOKEN" }',
        default_factory=lambda: Secret(env="GITHUB_TOKEN"),
    )
    timeout: float = doc("seconds per request", 30.0, minimum=1)
    retry: RetryPolicy = doc("retries of 429, 5xx and rate limits", default_factory=RetryPolicy)


def _refuse(config: Config, key: str, message: str, fix: str) -> ConfigError:
    return ConfigError(config.display_file, f"{KEY}.{key}", message, fix)


def check(config: Config, opts: HomebrewOptions) -> None:
    """Preflight: names and paths that stay what they say, URLs without credentials."""
    if opts.tap:
        owner, _, name = opts.tap.partition("/")
        if not all(_GITHUB_NAME.fullmatch(p) and p not in (".", "..") for p in (owner, name)):
            raise _refuse(
                config, "tap", f"{opts.tap[:100]!r} is not owner/name", 'write tap = "acme/homebrew-tap"'
            )
    if not _DIRECTORY.fullmatch(opts.directory) or any(p in (".", "..") for p in opts.directory.split("/")):
        raise _refuse(
            config,
            "directory",
            f"{opts.directory[:100]!r} is not a folder inside the tap",
            'write directory = "Formula" (relative, no "..")',
        )
    if opts.branch and (
        not _BRANCH.fullmatch(opts.branch) or ".." in opts.branch or opts.branch.endswith((".", "/", ".lock"))
    ):
        raise _refuse(
            config, "branch", f"{opts.branch[:100]!r} is not a branch name", "write a plain branch name"
        )
    for i, binary in enumerate(opts.binaries):
        if not _BINARY.fullmatch(binary):
            raise _refuse(
                config, f"binaries[{i}]", f"{binary[:100]!r} is not a binary name", "list built binary names"
            )
    for key, url in (
        ("download_url", opts.download_url),
        ("homepage", opts.homepage),
        ("api_url", opts.api_url),
    ):
        if url:
            _check_url(config, key, url)
    # templates: a typo is reported now, not after the build (placeholder values, same names)
    names = ("version", "commit", "short_commit", "date", "timestamp", "branch", "tag", "project")
    sample = dict.fromkeys(names, "x")
    for key, template, extra in (
        ("download_url", opts.download_url, ("owner", "repo", "file")),
        ("name", opts.name, ()),
        ("commit_message", opts.commit_message, ("name",)),
    ):
        render_template(
            template, {**sample, **dict.fromkeys(extra, "x")}, file=config.display_file, key=f"{KEY}.{key}"
        )


def _check_url(config: Config, key: str, url: str) -> None:
    parts = urllib.parse.urlsplit(url.replace("{", "").replace("}", ""))
    if parts.scheme not in ("https", "http") or not parts.netloc or re.search(r"[\s\x00-\x1f\"\\]", url):
        raise _refuse(config, key, "is not an http(s) URL", "write https://HOST/…")
    if "@" in parts.netloc:
        raise _refuse(
            config, key, "carries credentials in the URL", 'use token = { env = "NAME" } for the tap'
        )
    if parts.scheme == "http" and (key != "api_url" or not is_loopback(parts.netloc)):
        raise _refuse(config, key, "is plain http", "write an https:// URL")


def ruby_string(text: str) -> str:
    """A double-quoted Ruby literal that evaluates to ``text`` and nothing else (no ``#{}``)."""
    out = []
    for ch in text:
        if ch in '\\"#':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def class_name(formula: str) -> str:
    """Homebrew's class for a formula name: ``foo-bar`` → ``FooBar``, ``foo@1.2`` → ``FooAT12``."""
    name = formula.replace("@", "AT").replace("+", "x")
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_.]", name) if part)


@dataclass(frozen=True)
class Download:
    os: str  # darwin | linux
    arch: str  # amd64 | arm64 | all (universal darwin)
    url: str
    sha256: str
    binaries: tuple[str, ...]


def downloads(ctx: ProviderContext[HomebrewOptions], owner: str, repo: str) -> list[Download]:
    """One download per darwin/linux 64-bit target (universal darwin covers both CPUs)."""
    chosen: dict[tuple[str, str], Artifact] = {}
    for archive in ctx.artifacts.of_kind("archive"):
        arch = archive.arch or ""
        if archive.os not in ("darwin", "linux") or (arch not in _CPU and arch != "all"):
            continue
        if archive.extra.get("variant") or archive.path is None:
            continue
        if not archive.name.endswith(_ARCHIVE_FORMATS):
            continue
        key = (archive.os, arch)
        if key in chosen:
            ctx.fail(
                f"two archives for {archive.os}/{arch} ({chosen[key].name}, {archive.name}): brew needs one"
            )
        chosen[key] = archive
    if ("darwin", "all") in chosen:
        chosen = {k: v for k, v in chosen.items() if k[0] != "darwin" or k[1] == "all"}
    if not chosen:
        ctx.fail("no darwin or linux amd64/arm64 archives: add those targets and the archive packager")
    out: list[Download] = []
    for (os_name, arch), archive in sorted(chosen.items()):
        path = artifact_file(ctx.root, archive)
        url = ctx.render(ctx.options.download_url, key="download_url", owner=owner, repo=repo, file=path.name)
        out.append(
            Download(
                os_name,
                arch,
                url,
                archive.sha256 or "",
                tuple(str(b) for b in archive.extra.get("binaries") or ()),
            )
        )
    return out


def install_list(ctx: ProviderContext[HomebrewOptions], found: list[Download]) -> list[str]:
    """The binaries ``bin.install`` gets: each must be in every archive the formula names."""
    wanted = list(ctx.options.binaries) or sorted({b for d in found for b in d.binaries})
    for d in found:
        missing = [b for b in wanted if b not in d.binaries]
        if missing:
            ctx.fail(f"{KEY}.binaries: {', '.join(missing)} not in the {d.os}/{d.arch} archive")
    if not wanted:
        ctx.fail("the archives record no binaries to install")
    return wanted


def render_formula(
    ctx: ProviderContext[HomebrewOptions],
    name: str,
    found: list[Download],
    binaries: list[str],
    homepage: str,
) -> str:
    opts = ctx.options
    lines = [
        "# typed: false",
        "# frozen_string_literal: true",
        "",
        f"# Generated by gopipe for {ctx.git.tag or ctx.git.version}; the next release rewrites it.",
        f"class {class_name(name)} < Formula",
    ]
    if opts.description:
        lines.append(f"  desc {ruby_string(opts.description)}")
    lines.append(f"  homepage {ruby_string(homepage)}")
    lines.append(f"  version {ruby_string(ctx.git.version)}")
    if opts.license:
        lines.append(f"  license {ruby_string(opts.license)}")
    for os_name, block in (("darwin", "on_macos"), ("linux", "on_linux")):
        mine = [d for d in found if d.os == os_name]
        if not mine:
            continue
        lines += ["", f"  {block} do"]
        for d in mine:
            if d.arch == "all":
                lines += [f"    url {ruby_string(d.url)}", f"    sha256 {ruby_string(d.sha256)}"]
                continue
            cpu = _CPU[d.arch] + (" && Hardware::CPU.is_64_bit?" if os_name == "linux" else "")
            lines += [
                f"    if {cpu}",
                f"      url {ruby_string(d.url)}",
                f"      sha256 {ruby_string(d.sha256)}",
                "    end",
            ]
        lines.append("  end")
    lines += ["", "  def install"]
    lines += [f"    bin.install {ruby_string(b)}" for b in binaries]
    lines += ["  end", "", "  test do"]
    if opts.test:
        lines += [f"    {line}".rstrip() for line in opts.test.splitlines()]
    else:
        lines += [f"    assert_path_exists bin/{ruby_string(b)}" for b in binaries]
    lines += ["  end", "end", ""]
    return "\n".join(lines)


def git_blob_sha(data: bytes) -> str:
    """The ``sha`` GitHub's contents API reports for a file: its git blob id."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def commit_to_tap(
    ctx: ProviderContext[HomebrewOptions], api: GitHubApi, path: str, formula: bytes, message: str
) -> tuple[str, str]:
    """``(outcome, commit sha)``: ``unchanged`` (nothing sent), ``created`` or ``updated``."""
    opts = ctx.options
    owner, _, repo = opts.tap.partition("/")
    url = f"{api.api}/repos/{owner}/{repo}/contents/{urllib.parse.quote(path)}"
    read = url + (f"?{urllib.parse.urlencode({'ref': opts.branch})}" if opts.branch else "")
    for attempt in (1, 2):
        resp = api.call("GET", read, accept=(404,))
        current: dict[str, Any] | None = None if resp.status == 404 else _object(resp)
        if current is not None:
            if current.get("type") != "file":
                raise DeliveryError(f"{opts.tap}: {path} is a {str(current.get('type'))[:20]}, not a file")
            there = _decoded(current)
            if there == formula:
                return "unchanged", ""
        payload: dict[str, Any] = {"message": message, "content": base64.b64encode(formula).decode("ascii")}
        if opts.branch:
            payload["branch"] = opts.branch
        if current is not None:
            payload["sha"] = str(current.get("sha") or "")
        put = api.call("PUT", url, payload, accept=(409,))
        if put.status == 409 and attempt == 1:
            ctx.log(f"{opts.tap}: {path} changed while we wrote it ({snippet(put, 120)}); reading it again")
            continue
        if put.status == 409:
            raise DeliveryError(f"PUT {_where(url)}: HTTP 409 twice: {snippet(put)}")
        answer = _object(put)
        commit = answer.get("commit")
        sha = str(commit.get("sha") or "") if isinstance(commit, dict) else ""
        return ("updated" if current is not None else "created"), sha
    raise AssertionError("unreachable")


def _decoded(current: dict[str, Any]) -> bytes | None:
    if current.get("encoding") != "base64" or not isinstance(current.get("content"), str):
        return None  # a file over 1 MB comes without content: write ours over it
    try:
        return base64.b64decode("".join(current["content"].split()), validate=True)
    except ValueError:
        return None


def run(ctx: ProviderContext[HomebrewOptions]) -> None:
    opts = ctx.options
    if not ctx.git.tag:
        ctx.fail("no tag to publish (the release checks HEAD is a version tag)")
    name = ctx.render(opts.name, key="name")
    if not _FORMULA_NAME.fullmatch(name):
        raise ConfigError(
            ctx.config.display_file,
            f"{KEY}.name",
            f"{name[:100]!r} is not a Homebrew formula name",
            "use lower-case letters, digits, '-', '_', '.', '@' or '+'",
        )
    if opts.owner and opts.repo:
        owner, repo = opts.owner, opts.repo
    else:
        owner, repo = repository(ctx)  # type: ignore[arg-type]
    found = downloads(ctx, owner, repo)
    binaries = install_list(ctx, found)
    homepage = opts.homepage or f"https://github.com/{owner}/{repo}"
    formula = render_formula(ctx, name, found, binaries, homepage).encode("utf-8")
    out = ctx.dist_path(f"{name}.rb", "name", under="homebrew")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(formula)
    extra: dict[str, Any] = {"formula": name, "targets": [f"{d.os}/{d.arch}" for d in found]}
    summary = f"homebrew: {name}.rb for {', '.join(extra['targets'])}"
    if opts.tap:
        try:
            token = opts.token.reveal()
        except LookupError as exc:
            ctx.fail(f"no token for the tap: {exc}")
        ctx.add_secret(token)
        stop = ctx.tracker.cancelled
        client = Client("homebrew", opts.retry, ctx.log, opts.timeout, stop, max_body=MAX_JSON_BYTES)
        api = GitHubApi(opts.api_url.rstrip("/"), opts.api_url.rstrip("/"), token, client, client)
        path = f"{opts.directory.strip('/')}/{name}.rb"
        message = ctx.render(opts.commit_message, key="commit_message", name=name)
        try:
            outcome, commit = commit_to_tap(ctx, api, path, formula, message)
        except DeliveryError as exc:
            ctx.fail(ctx.redact(f"Homebrew tap {opts.tap}: {exc}"))
        extra.update(tap=opts.tap, tap_path=path, outcome=outcome, commit=commit or None)
        summary += f"; {outcome} in {opts.tap}" + (f" ({commit[:12]})" if commit else "")
        ctx.log(f"{opts.tap}: {path} {outcome}")
    ctx.add_artifact("homebrew-formula", out.name, out, **{k: v for k, v in extra.items() if v is not None})
    ctx.summary = summary


@hookimpl
def gopipe_publishers() -> list[Publisher[HomebrewOptions]]:
    return [
        Publisher(
            name="homebrew",
            run=run,
            check=check,
            options=HomebrewOptions,
            description="Homebrew formula for the darwin/linux archives, committed to a tap "
            "through the contents API",
        )
    ]
