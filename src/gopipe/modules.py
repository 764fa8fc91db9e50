"""The Go modules of a repository, how they depend on each other, and which a change touches.

A repository may hold several modules (``services/api``, ``libs/shared`` …). They are found
from ``go.work`` when there is one (``go work edit -json``: its ``use`` lines), else from every
``go.mod`` below the repository's top that is not under ``vendor/``, ``testdata/``, ``dist/`` or
a hidden directory. A module depends on another when it replaces a requirement by the other's
directory (``go mod edit -json``: ``Replace``), or, in a workspace, when it requires the other's
module path (the workspace resolves it locally). ``--changed-since`` selects the modules with
changed files and every module that depends on them, directly or not.

Paths are always relative to the repository's top, in ``/`` form, ``"."`` for the top module;
a module outside the repository (``use ../outside``, a symlink that leads out) is refused.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from gopipe.errors import ConfigError
from gopipe.git import work_tree_root

#: Directories never searched for ``go.mod`` (Go itself ignores vendor/ and testdata/).
SKIPPED_DIRS = frozenset({"vendor", "testdata", "dist", "node_modules"})

#: The top module's outputs in a run from the top (``dist/top-module``): ``dist/gopipe`` is the run's.
TOP_MODULE_DIST = "top-module"

#: Files whose change affects every module: the workspace and the inherited config.
SHARED_FILES = frozenset({"go.work", "go.work.sum", "pyproject.toml"})


@dataclass(frozen=True)
class Module:
    """One Go module: ``path`` from the repository's top (``"."`` for the top module)."""

    path: str
    dir: Path
    module_path: str  # the ``module`` line of its go.mod
    depends_on: tuple[str, ...] = ()  # paths of the repository's modules it builds with

    @property
    def tag_prefix(self) -> str:
        """``services/api/`` for ``services/api``; ``""`` for the top module."""
        return "" if self.path == "." else f"{self.path}/"

    @property
    def slug(self) -> str:
        """A name for CI artifacts and cache keys: ``services-api``; ``top`` for the top module."""
        return "top" if self.path == "." else re.sub(r"[^A-Za-z0-9_.-]", "-", self.path)

    def out(self, dist: str = "dist") -> str:
        """Its ``dist/gopipe`` from the repository's top, in a run from the top."""
        if self.path == ".":
            return f"{dist}/{TOP_MODULE_DIST}/gopipe"
        return f"{self.path}/{dist}/gopipe"

    def to_json(self, dist: str = "dist") -> dict[str, Any]:
        return {
            "path": self.path,
            "slug": self.slug,
            "out": self.out(dist),
            "module": self.module_path,
            "depends_on": list(self.depends_on),
            "tag_prefix": self.tag_prefix,
        }


@dataclass(frozen=True)
class Workspace:
    """Every module of one repository, found from ``source`` (``go.work`` or ``go.mod``)."""

    root: Path
    modules: tuple[Module, ...]
    source: str

    @property
    def is_multi(self) -> bool:
        """More than one module, or one that is not at the top: runs go module by module."""
        return len(self.modules) > 1 or any(m.path != "." for m in self.modules)

    def get(self, path: str) -> Module | None:
        return next((m for m in self.modules if m.path == path), None)

    def select(self, paths: Sequence[str], *, key: str = "--module") -> tuple[Module, ...]:
        """The modules named on the command line, in the workspace's order; a path that is
        not a module is a ConfigError with the known ones."""
        import difflib

        wanted = []
        for given in paths:
            path = _clean(given, key)
            if self.get(path) is None:
                known = [m.path for m in self.modules]
                hint = difflib.get_close_matches(path, known, n=1)
                raise ConfigError(
                    "command line",
                    key,
                    f"{given!r} is not a module of this repository",
                    (f"did you mean {hint[0]!r}? " if hint else "") + "modules: " + ", ".join(known),
                )
            wanted.append(path)
        return tuple(m for m in self.modules if m.path in wanted)

    def owner(self, file: str) -> Module | None:
        """The module a repository-relative file belongs to (the deepest that holds it)."""
        parts = PurePosixPath(file).parts
        best: Module | None = None
        for module in self.modules:
            prefix = () if module.path == "." else PurePosixPath(module.path).parts
            if parts[: len(prefix)] == prefix and (best is None or len(prefix) > _depth(best)):
                best = module
        return best

    def affected(self, changed_files: Iterable[str]) -> tuple[Module, ...]:
        """Modules with a changed file, plus every module that depends on one of them."""
        hit: set[str] = set()
        for file in changed_files:
            if file in SHARED_FILES:
                return self.modules
            owner = self.owner(file)
            if owner is not None and not _is_output(file, owner):
                hit.add(owner.path)
        grew = True
        while grew:  # the dependants' closure; the graph is small
            grew = False
            for module in self.modules:
                if module.path not in hit and hit.intersection(module.depends_on):
                    hit.add(module.path)
                    grew = True
        return tuple(m for m in self.modules if m.path in hit)


def _is_output(file: str, module: Module) -> bool:
    """A file of a previous run (``services/api/dist/...``): never a change to the module."""
    inner = PurePosixPath(file).parts[_depth(module) :]
    return bool(inner) and inner[0] in ("dist", ".nox")


def _depth(module: Module) -> int:
    return 0 if module.path == "." else len(PurePosixPath(module.path).parts)


def _clean(given: str, key: str) -> str:
    """A module path as typed (``./services/api/``) in its one spelling; never outside."""
    text = given.strip().replace("\\", "/")
    pure = PurePosixPath(text)
    if not text or pure.is_absolute() or ".." in pure.parts or text.startswith("-"):
        raise ConfigError(
            "command line",
            key,
            f"{given!r} is not a path inside the repository",
            "name a module by its directory from the repository's top, e.g. services/api",
        )
    return str(pure) if str(pure) != "" else "."


def discover(start: Path, environ: Mapping[str, str] | None = None) -> Workspace:
    """The modules of the repository holding ``start`` (its git top, else ``start`` itself)."""
    env = _go_env(environ)
    root = (work_tree_root(start) or start).resolve()
    work = root / "go.work"
    if work.is_file():
        dirs, replaces = _workspace_dirs(root, work, env)
        source = "go.work"
    else:
        dirs, replaces = find_go_mods(root), {}
        source = "go.mod"
    found = [_read_module(root, d, env) for d in dirs]
    by_dir = {m.dir: m for m in found}
    by_path = {m.module_path: m for m in found}
    modules = []
    for module in found:
        edges: set[str] = set()
        for required, replaced_by in _requirements(module):
            target = by_dir.get(replaced_by) if replaced_by else None
            if target is None and source == "go.work":
                target = by_dir.get(replaces.get(required, Path())) or by_path.get(required)
            if target is not None and target is not module:
                edges.add(target.path)
        modules.append(Module(module.path, module.dir, module.module_path, tuple(sorted(edges))))
    modules.sort(key=lambda m: (m.path != ".", m.path))
    return Workspace(root=root, modules=tuple(modules), source=source)


def _go_env(environ: Mapping[str, str] | None) -> dict[str, str]:
    """Reading go.work and go.mod must never download a toolchain or consult GOFLAGS."""
    env = dict(os.environ if environ is None else environ)
    env.update(GOTOOLCHAIN="local", GOFLAGS="")
    env.pop("GOWORK", None)
    return env


def _go_json(args: Sequence[str], cwd: Path, env: dict[str, str], *, file: str) -> dict[str, Any]:
    go = shutil.which("go", path=env.get("PATH"))
    if go is None:
        raise ConfigError(
            "environment", "PATH", f"go is not on PATH, but {file} needs reading", "install Go 1.22 or later"
        )
    done = subprocess.run(
        [go, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["unreadable"])[0]
        raise ConfigError(file, "", first, f"fix {file} (go {' '.join(args[:2])} must read it)")
    data = json.loads(done.stdout or "{}")
    return data if isinstance(data, dict) else {}


def _inside(root: Path, base: Path, rel: str, *, file: str, key: str) -> Path:
    """``rel`` (from ``base``) resolved, symlinks too, and checked to stay in the repository."""
    path = (base / rel).resolve()
    if not path.is_relative_to(root):
        raise ConfigError(
            file,
            key,
            f"{rel!r} leaves the repository ({path})",
            "keep every module inside the repository; gopipe runs only what is checked out here",
        )
    return path


def _workspace_dirs(root: Path, work: Path, env: dict[str, str]) -> tuple[list[Path], dict[str, Path]]:
    data = _go_json(["work", "edit", "-json", str(work)], root, env, file="go.work")
    dirs: list[Path] = []
    for use in data.get("Use") or []:
        rel = str(use.get("DiskPath", ""))
        path = _inside(root, root, rel, file="go.work", key="use")
        if not (path / "go.mod").is_file():
            raise ConfigError("go.work", "use", f"{rel!r} has no go.mod", "remove the line or add the module")
        if path not in dirs:
            dirs.append(path)
    replaces: dict[str, Path] = {}
    for rep in data.get("Replace") or []:
        new = str((rep.get("New") or {}).get("Path", ""))
        if _is_local(new):
            old = str((rep.get("Old") or {}).get("Path", ""))
            replaces[old] = (root / new).resolve()
    return dirs, replaces


def find_go_mods(root: Path) -> list[Path]:
    """Every directory below ``root`` with a go.mod, outside the skipped and hidden ones."""
    found = []
    for here, subdirs, files in os.walk(root):  # symlinked directories are not followed
        subdirs[:] = sorted(d for d in subdirs if d not in SKIPPED_DIRS and not d.startswith((".", "_")))
        if "go.mod" in files and Path(here, "go.mod").resolve().is_relative_to(root):
            found.append(Path(here).resolve())
    return found


@dataclass(frozen=True)
class _Read:
    path: str
    dir: Path
    module_path: str
    go_mod: dict[str, Any]


def _read_module(root: Path, directory: Path, env: dict[str, str]) -> _Read:
    rel = directory.relative_to(root).as_posix()
    shown = "go.mod" if rel == "." else f"{rel}/go.mod"
    data = _go_json(["mod", "edit", "-json", str(directory / "go.mod")], directory, env, file=shown)
    module_path = str((data.get("Module") or {}).get("Path", ""))
    return _Read(path=rel, dir=directory, module_path=module_path, go_mod=data)


def _requirements(module: _Read) -> list[tuple[str, Path | None]]:
    """Each required module path, with the local directory a ``replace`` puts in its place."""
    replaced: dict[str, Path] = {}
    for rep in module.go_mod.get("Replace") or []:
        new = str((rep.get("New") or {}).get("Path", ""))
        if _is_local(new):
            replaced[str((rep.get("Old") or {}).get("Path", ""))] = (module.dir / new).resolve()
    required = [str(r.get("Path", "")) for r in module.go_mod.get("Require") or []]
    return [(r, replaced.get(r)) for r in dict.fromkeys([*required, *replaced])]


def _is_local(path: str) -> bool:
    """A ``replace`` target that is a directory (``./x``, ``../x``, ``/x``), not a module path."""
    return path.startswith(("./", "../", "/")) or path in (".", "..")


def changed_files(root: Path, ref: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """Files changed since ``ref``'s merge base with HEAD, committed or not (repository-relative).

    ``ref`` is checked before git sees it: an option-looking ref (``--output=/tmp/x``) or an
    unknown one is a ConfigError, never passed on as an option.
    """
    env = dict(os.environ if environ is None else environ)
    if not ref or ref.startswith("-") or any(c in ref for c in "\0\n\r"):
        raise ConfigError(
            "command line",
            "--changed-since",
            f"{ref!r} is not a git ref",
            "pass a branch, tag or commit, e.g. --changed-since origin/main",
        )
    git = shutil.which("git", path=env.get("PATH"))
    if git is None:
        raise ConfigError("environment", "PATH", "git is not on PATH", "install git")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [git, *args], cwd=root, env=env, capture_output=True, text=True, timeout=60, check=False
        )

    resolved = run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    sha = resolved.stdout.strip()
    if resolved.returncode != 0 or not sha:
        raise ConfigError(
            "command line",
            "--changed-since",
            f"unknown git ref {ref!r}",
            "fetch it first (actions/checkout with fetch-depth: 0) or pass an existing ref",
        )
    base = run("merge-base", sha, "HEAD").stdout.strip() or sha  # a PR's changes, not the base's
    diff = run("diff", "--name-only", "--no-relative", "-z", "--no-renames", base)
    if diff.returncode != 0:
        raise ConfigError("command line", "--changed-since", f"git diff failed: {diff.stderr.strip()}", "")
    untracked = run("ls-files", "--others", "--exclude-standard", "-z")
    names = [n for n in (diff.stdout + untracked.stdout).split("\0") if n]
    return sorted(set(names))
