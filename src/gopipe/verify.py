"""``gopipe verify``: rebuild the recorded run elsewhere and compare every artifact byte for byte.

A reproducible build is a claim; this checks it before anything is published. The last
run's ``dist/gopipe/report.json`` says what was built (binaries, archives, checksum files,
packages by sha256; images by index digest) and from which commit. ``verify`` clones that
commit into a fresh temporary directory (another path, so nothing can depend on the
checkout's location), runs the same stages there with an empty ``dist/`` and no stage
cache, and compares. A difference names the artifact and, for files, the first byte offset
where the two differ, in ``dist/gopipe/verify.json`` and on stdout; the exit code is 1.

The rebuild runs with the caller's environment (minus GitHub's step-summary/output files),
so a build input that was set for the recorded run but is not part of the repository (an
environment variable that changes the binary, a locally patched toolchain) shows up as a
difference. Uncommitted changes are not in the clone either: a dirty recorded run is
reported as such.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gopipe.errors import ConfigError
from gopipe.git import work_tree_root

FILE_KINDS = ("binary", "archive", "checksums", "package")
STAGES = ("build", "package")
_RANK = {"binary": 0, "package": 1, "archive": 2, "checksums": 3, "image": 4}
_PRIVATE_ENV = ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")


@dataclass(frozen=True)
class Recorded:
    """One artifact as a run's report names it: ``kind:path`` (files) or ``image:name``."""

    key: str
    kind: str
    digest: str  # sha256 hex of the file, or the image index digest
    path: str | None


@dataclass(frozen=True)
class Difference:
    artifact: str
    recorded: str
    rebuilt: str | None  # None: the rebuild did not produce it
    first_difference: int | None = None  # byte offset, for files
    recorded_size: int | None = None
    rebuilt_size: int | None = None

    def line(self) -> str:
        if self.rebuilt is None:
            return f"{self.artifact}: not produced by the rebuild"
        where = (
            f", first difference at byte {self.first_difference}" if self.first_difference is not None else ""
        )
        sizes = (
            f" (sizes {self.recorded_size} and {self.rebuilt_size})"
            if self.recorded_size is not None and self.recorded_size != self.rebuilt_size
            else ""
        )
        return f"{self.artifact}: recorded {self.recorded[:19]}, rebuilt {self.rebuilt[:19]}{where}{sizes}"


def recorded_artifacts(report: Mapping[str, Any]) -> dict[str, Recorded]:
    found: dict[str, Recorded] = {}
    for a in report.get("artifacts") or []:
        kind, path = a.get("kind"), a.get("path")
        if kind in FILE_KINDS and path and a.get("sha256"):
            found[f"{kind}:{path}"] = Recorded(f"{kind}:{path}", kind, str(a["sha256"]), str(path))
        elif kind == "image" and (a.get("extra") or {}).get("index_digest"):
            key = f"image:{a['name']}"
            found[key] = Recorded(key, kind, str(a["extra"]["index_digest"]), a.get("path"))
    return found


def first_difference(a: Path, b: Path) -> int | None:
    """The offset of the first byte where ``a`` and ``b`` differ (the shorter one's end if
    one is a prefix of the other); None when they are equal."""
    offset = 0
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            x, y = fa.read(1 << 16), fb.read(1 << 16)
            if x != y:
                for i, (p, q) in enumerate(zip(x, y, strict=False)):
                    if p != q:
                        return offset + i
                return offset + min(len(x), len(y))
            if not x:
                return None
            offset += len(x)


def compare(
    recorded: Mapping[str, Recorded], rebuilt: Mapping[str, Recorded], root: Path, clone: Path
) -> list[Difference]:
    diffs = []
    # binaries first: they are the inputs of everything else, so the first line names the cause
    for key, rec in sorted(recorded.items(), key=lambda kv: (_RANK.get(kv[1].kind, 9), kv[0])):
        new = rebuilt.get(key)
        if new is None:
            diffs.append(Difference(key, rec.digest, None))
        elif new.digest != rec.digest:
            offset = sizes = None
            if rec.path and new.path and rec.kind != "image":
                mine, theirs = (root / rec.path).resolve(), (clone / new.path).resolve()
                inside = mine.is_relative_to(root.resolve()) and theirs.is_relative_to(clone.resolve())
                if inside and mine.is_file() and theirs.is_file():  # a report names only its own files
                    offset = first_difference(mine, theirs)
                    sizes = (mine.stat().st_size, theirs.stat().st_size)
            diffs.append(
                Difference(
                    key,
                    rec.digest,
                    new.digest,
                    offset,
                    sizes[0] if sizes else None,
                    sizes[1] if sizes else None,
                )
            )
    return diffs


def _read_report(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigError(
            str(path), "", "no readable report of a build", "run `gopipe run build package` first"
        ) from None
    return data


#: Runs one command: (argv, cwd, env) -> (exit code, stdout). ``gopipe verify`` uses
#: :func:`subprocess.run`; the release's verify step uses its stage's process tracker, so a
#: cancel or a timeout ends the rebuild too.
Execute = Callable[[Sequence[str], Path, Mapping[str, str]], tuple[int, str]]


@dataclass(frozen=True)
class Outcome:
    """What a rebuild found: the ``verify.json`` content, the differences, the rebuild's output."""

    result: dict[str, Any]
    differences: list[Difference]
    output: str

    @property
    def reproducible(self) -> bool:
        return bool(self.result["status"] == "reproducible")


def _subprocess(args: Sequence[str], cwd: Path, env: Mapping[str, str]) -> tuple[int, str]:
    proc = subprocess.run(list(args), cwd=cwd, env=dict(env), capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout


def verify_rebuild(root: Path, config_file: Path | None = None, *, keep: bool = False) -> int:
    """Rebuild the last run's commit in a temporary clone and compare; 0 when all match."""
    root = root.resolve()
    out = _dist(root, config_file) / "gopipe"
    report = _read_report(out / "report.json")
    recorded = recorded_artifacts(report)
    if not recorded:
        raise ConfigError(
            str(out / "report.json"),
            "",
            "the last run built no artifacts",
            "run `gopipe run build package` first",
        )
    ran = {s.get("name"): s.get("status") for s in report.get("stages") or []}
    git = report.get("git") or {}
    outcome = rebuild_and_compare(
        root,
        recorded,
        sha=str(git.get("sha") or ""),
        dirty=bool(git.get("dirty")),
        stages=[s for s in STAGES if ran.get(s) == "success"],
        config_file=config_file,
        env=os.environ,
        execute=_subprocess,
        out=out,
        keep=keep,
    )
    for line in outcome_lines(outcome):
        print(line)
    return 0 if outcome.reproducible else 1


def rebuild_and_compare(
    root: Path,
    recorded: Mapping[str, Recorded],
    *,
    sha: str,
    dirty: bool,
    stages: Sequence[str],
    config_file: Path | None,
    env: Mapping[str, str],
    execute: Execute,
    out: Path,
    keep: bool = False,
) -> Outcome:
    """Clone ``sha`` elsewhere, run ``stages`` there from scratch, compare with ``recorded``.

    Writes ``out/verify.json``. The clone is kept when something differs (for inspection)
    or with ``keep``; otherwise it is deleted.
    """
    root = root.resolve()
    if not sha or sha == "none":
        raise ConfigError(
            str(root), "", "the recorded run has no commit to rebuild", "commit, then build again"
        )
    # The Go module may sit in a subdirectory of the repository (a monorepo's module): clone
    # the whole repository, rebuild in the same subdirectory of the clone.
    top = work_tree_root(root) or root
    scratch = Path(tempfile.mkdtemp(prefix="gopipe-verify-"))
    clone_top = scratch / "elsewhere" / top.name
    clone = clone_top / root.relative_to(top)
    env = {k: v for k, v in env.items() if k not in _PRIVATE_ENV}
    try:
        _git(["clone", "--quiet", "--no-hardlinks", str(top), str(clone_top)], scratch, env)
        _git(["checkout", "--quiet", "--detach", sha], clone_top, env)
        # The clone's origin would be the checkout's path; {project} and the provenance read
        # the remote, so give the clone the checkout's own remote (or none, as it has).
        _git(["remote", "remove", "origin"], clone_top, env)
        origin = subprocess.run(
            ["git", "remote", "get-url", "origin"],
            cwd=top,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if origin.returncode == 0 and origin.stdout.strip():
            _git(["remote", "add", "origin", origin.stdout.strip()], clone_top, env)
        args = [sys.executable, "-m", "gopipe.cli", "run", *stages, "-C", str(clone), "--plain"]
        args += ["--no-notify", "--no-cache"]
        clone_config = None
        if config_file is not None:
            full = config_file.resolve()
            if not full.is_relative_to(root):
                raise ConfigError(
                    str(config_file), "--config", "is outside the repository; the clone lacks it"
                )
            clone_config = clone / full.relative_to(root)
            args += ["--config", str(clone_config)]
        code, output = execute(args, clone, env)
        rebuilt_file = _dist(clone, clone_config) / "gopipe" / "report.json"
        rebuilt = recorded_artifacts(_read_report(rebuilt_file)) if rebuilt_file.is_file() else {}
        diffs = compare(recorded, rebuilt, root, clone)
        status = "reproducible" if not diffs and code == 0 else "differs"
        if code != 0 and (not diffs or not rebuilt):
            status = "rebuild failed"
        result = {
            "status": status,
            "commit": sha,
            "recorded_dirty": dirty,
            "rebuilt_in": str(clone),
            "stages": list(stages),
            "compared": sorted(recorded),
            "differences": [asdict(d) for d in diffs],
            "rebuild_exit_code": code,
        }
        out.mkdir(parents=True, exist_ok=True)
        (out / "verify.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        if status == "reproducible" and not keep:
            shutil.rmtree(scratch, ignore_errors=True)
        return Outcome(result, diffs, output)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def outcome_lines(outcome: Outcome) -> list[str]:
    """What a rebuild found, in lines for a person: one per differing artifact."""
    result, diffs = outcome.result, outcome.differences
    n = len(result["compared"])
    lines = []
    if result["recorded_dirty"]:
        lines.append("verify: the recorded run was built from a dirty tree; the clone has only the commit")
    if result["status"] == "reproducible":
        lines.append(f"verify: {n} artifact{'s' * (n != 1)} rebuilt identically from {result['commit'][:12]}")
        return lines
    if result["status"] == "rebuild failed":
        lines.append(
            f"verify: the rebuild failed (exit {result['rebuild_exit_code']}) in {result['rebuilt_in']}"
        )
        lines.extend(outcome.output.strip().splitlines()[-15:])
        return lines
    lines.append(f"verify: {len(diffs)} of {n} artifacts differ from a rebuild of {result['commit'][:12]}:")
    lines.extend(f"  {d.line()}" for d in diffs)
    lines.append(f"verify: the rebuild is kept in {result['rebuilt_in']}; details in dist/gopipe/verify.json")
    return lines


def _dist(root: Path, config_file: Path | None) -> Path:
    from gopipe.config import load_config

    return load_config(root, config_file).dist


def _git(args: list[str], cwd: Path, env: Mapping[str, str]) -> None:
    proc = subprocess.run(["git", *args], cwd=cwd, env=dict(env), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ConfigError(str(cwd), "", f"git {args[0]} failed: {proc.stderr.strip()[:300]}")
