"""``ctx.tool``: a plugin's own pinned Go tool, or one of gopipe's with another version.

The tool is a real Go module served by a file-system module proxy (``GOPROXY=file://...``), so
``go install module/cmd@version`` runs for real and offline; each version prints itself.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from tests.core.run_context import make_run, provider_context

from gopipe.api import GoTool, NoOptions
from gopipe.gotools import TOOLS

MODULE = "example.com/gopipe-hello"
HELLO = GoTool("gopipe-hello", f"{MODULE}/cmd/hello", "v1.0.0")
_GO_MOD = f"module {MODULE}\n\ngo 1.22\n"
_MAIN = 'package main\n\nimport "fmt"\n\nfunc main() {{ fmt.Println("hello from {version}") }}\n'


def publish(proxy: Path, version: str) -> None:
    """Put ``version`` of the module into a GOPROXY directory (list, info, mod and zip)."""
    where = proxy / MODULE / "@v"
    where.mkdir(parents=True, exist_ok=True)
    with (where / "list").open("a") as fh:
        fh.write(version + "\n")
    (where / f"{version}.info").write_text(json.dumps({"Version": version, "Time": "2026-01-02T03:04:05Z"}))
    (where / f"{version}.mod").write_text(_GO_MOD)
    with zipfile.ZipFile(where / f"{version}.zip", "w") as zf:
        zf.writestr(f"{MODULE}@{version}/go.mod", _GO_MOD)
        zf.writestr(f"{MODULE}@{version}/cmd/hello/main.go", _MAIN.format(version=version))


@pytest.fixture
def go_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A private tool cache and module cache, and the module proxy (no network needed)."""
    proxy = tmp_path / "proxy"
    for version in ("v1.0.0", "v1.1.0"):
        publish(proxy, version)
    monkeypatch.setenv("GOPIPE_CACHE", str(tmp_path / "gopipe-cache"))
    return {
        "GOPROXY": proxy.as_uri(),
        "GOSUMDB": "off",
        "GOMODCACHE": str(tmp_path / "gomodcache"),
        "GOTOOLCHAIN": "local",
    }


@pytest.mark.slow
def test_a_plugins_own_tool_is_installed_and_runs(tmp_path: Path, go_env: dict[str, str]) -> None:
    log: list[str] = []
    ctx = provider_context(make_run(tmp_path / "repo", env=go_env), "lint", "hello", NoOptions(), log)
    exe = ctx.tool(HELLO)
    assert exe.is_file()
    assert "gopipe-cache" in str(exe) and "gopipe-hello@v1.0.0" in str(exe)
    assert ctx.sh([exe]).stdout == "hello from v1.0.0\n"
    assert "using gopipe-hello v1.0.0" in log
    # a version override of the plugin's own pin installs beside it
    newer = ctx.tool(HELLO, version="v1.1.0")
    assert newer != exe
    assert ctx.sh([newer]).stdout == "hello from v1.1.0\n"
    assert ctx.tool(HELLO) == exe  # cached: no second install


@pytest.mark.slow
def test_a_core_tool_name_takes_a_version_override(
    tmp_path: Path, go_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(TOOLS, HELLO.name, HELLO)  # as if gopipe pinned it in gopipe.gotools
    ctx = provider_context(make_run(tmp_path / "repo", env=go_env), "lint", "hello", NoOptions())
    assert ctx.sh([ctx.tool("gopipe-hello")]).stdout == "hello from v1.0.0\n"
    assert ctx.sh([ctx.tool("gopipe-hello", version="v1.1.0")]).stdout == "hello from v1.1.0\n"


def test_an_unknown_tool_name_says_how_to_bring_your_own(tmp_path: Path) -> None:
    ctx = provider_context(make_run(tmp_path / "repo"), "lint", "hello", NoOptions())
    with pytest.raises(KeyError, match=r"no Go tool 'revive' in gopipe's list \(.*staticcheck.*\); pass GoT"):
        ctx.tool("revive")
