"""The Go toolchain as gopipe sees it: version, packages, and pinned tools on first use.

Tools such as staticcheck are installed with ``go install module@version`` into a cache
keyed by Go version and tool version, then reused; a file lock keeps two concurrent runs
from installing the same tool at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gopipe.errors import ConfigError
from gopipe.secrets import clip


@dataclass(frozen=True)
class GoTool:
    """A Go program gopipe installs on demand, pinned to a version."""

    name: str
    package: str  # the main package path passed to go install
    version: str


# Pinned defaults; each provider's options can override ``version``.
TOOLS: dict[str, GoTool] = {
    t.name: t
    for t in (
        GoTool("staticcheck", "honnef.co/go/tools/cmd/staticcheck", "v0.8.2"),
        GoTool("golangci-lint", "github.com/golangci/golangci-lint/v2/cmd/golangci-lint", "v2.15.0"),
        GoTool("govulncheck", "golang.org/x/vuln/cmd/govulncheck", "v1.9.0"),
        # Validates generated GitHub workflows (tests of gopipe.github).
        GoTool("actionlint", "github.com/rhysd/actionlint/cmd/actionlint", "v1.7.12"),
        # deb, rpm, apk and archlinux packages (the nfpm packager).
        GoTool("nfpm", "github.com/goreleaser/nfpm/v2/cmd/nfpm", "v2.45.2"),
        # Check what gopipe signs and attests (tests, docs/supply-chain.md); cosign is the
        # slow one: a cold `go install` took ~14 min on 2 cores (1.8 GB of modules).
        GoTool("cosign", "github.com/sigstore/cosign/v3/cmd/cosign", "v3.1.3"),
        GoTool("oras", "oras.land/oras/cmd/oras", "v1.3.6"),
    )
}


@dataclass(frozen=True)
class GoPackage:
    import_path: str
    dir: Path
    name: str
    has_tests: bool
    error: str | None = None

    @property
    def is_main(self) -> bool:
        return self.name == "main"


def cache_root() -> Path:
    base = os.environ.get("GOPIPE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gopipe"
    )
    return Path(base)


class GoToolchain:
    """Facts about ``go`` in one repository, each computed at most once per run."""

    def __init__(self, root: Path, env: Mapping[str, str]) -> None:
        self.root = root
        self.env = dict(env)
        self._lock = threading.Lock()
        self._version: str | None = None
        self._packages: list[GoPackage] | None = None
        self.go = shutil.which("go", path=self.env.get("PATH"))

    def require(self, file: str) -> str:
        if self.go is None:
            raise ConfigError(
                file,
                "",
                "the Go toolchain ('go') is not on PATH",
                "install Go and put its bin directory on PATH",
            )
        if not (self.root / "go.mod").is_file():
            raise ConfigError(
                str(self.root / "go.mod"),
                "",
                "no go.mod in the repository root",
                "run gopipe from the Go module's root (or pass -C DIR), or create one with 'go mod init'",
            )
        return self.go

    def version(self) -> str:
        with self._lock:
            if self._version is None:
                out = subprocess.run(
                    [self.go or "go", "env", "GOVERSION"],
                    capture_output=True,
                    text=True,
                    env=self.env,
                    cwd=self.root,
                    check=False,
                )
                self._version = out.stdout.strip() or "unknown"
            return self._version

    def packages(self) -> list[GoPackage]:
        """``go list ./...`` once per run; packages with load errors carry them."""
        with self._lock:
            if self._packages is None:
                self._packages = self._list()
            return self._packages

    def _list(self) -> list[GoPackage]:
        proc = subprocess.run(
            [
                self.go or "go",
                "list",
                "-e",
                "-json=ImportPath,Dir,Name,TestGoFiles,XTestGoFiles,Error",
                "./...",
            ],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.root,
            check=False,
        )
        decoder = json.JSONDecoder()
        text, pos, packages = proc.stdout, 0, []
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            obj, pos = decoder.raw_decode(text, pos)
            err = obj.get("Error", {}).get("Err") if obj.get("Error") else None
            packages.append(
                GoPackage(
                    import_path=obj["ImportPath"],
                    dir=Path(obj.get("Dir", self.root)),
                    name=obj.get("Name", ""),
                    has_tests=bool(obj.get("TestGoFiles") or obj.get("XTestGoFiles")),
                    error=err,
                )
            )
        return packages

    def tool_path(self, tool: GoTool) -> Path:
        """Where ``tool``'s binary lives in the cache (keyed by Go and tool version)."""
        bin_dir = cache_root() / "tools" / self.version() / f"{tool.name}@{tool.version}"
        return bin_dir / (Path(tool.package).name + (".exe" if os.name == "nt" else ""))

    def tool(self, tool: GoTool) -> Path:
        """Path to ``tool``'s binary, installing it into the cache on first use."""
        exe = self.tool_path(tool)
        bin_dir = exe.parent
        if exe.is_file():
            return exe
        bin_dir.mkdir(parents=True, exist_ok=True)
        with (bin_dir.parent / f".{tool.name}@{tool.version}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not exe.is_file():
                env = {**self.env, "GOBIN": str(bin_dir), "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
                proc = subprocess.run(
                    [self.go or "go", "install", f"{tool.package}@{tool.version}"],
                    capture_output=True,
                    text=True,
                    env=env,
                    cwd=bin_dir,
                    check=False,
                )
                if proc.returncode != 0:
                    raise RuntimeError(
                        f"go install {tool.package}@{tool.version} failed: "
                        + clip(proc.stderr.strip(), 2000, tail=True)
                    )
        return exe
