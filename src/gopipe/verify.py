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
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gopipe.errors import ConfigError

FILE_KINDS = ("binary", "archive", "checksums", "package")
STAGES = ("build", "package")
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
    for key, rec in sorted(recorded.items()):
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
    stages = [s for s in STAGES if ran.get(s) == "success"]
    git = report.get("git") or {}
    sha = str(git.get("sha") or "")
    if not sha or sha == "none":
        raise ConfigError(
            str(root), "", "the recorded run has no commit to rebuild", "commit, then build again"
        )
    scratch = Path(tempfile.mkdtemp(prefix="gopipe-verify-"))
    clone = scratch / "elsewhere" / root.name
    env = {k: v for k, v in os.environ.items() if k not in _PRIVATE_ENV}
    try:
        _git(["clone", "--quiet", "--no-hardlinks", str(root), str(clone)], scratch, env)
        _git(["checkout", "--quiet", "--detach", sha], clone, env)
        # The clone's origin would be the checkout's path; {project} and the provenance read
        # the remote, so give the clone the checkout's own remote (or none, as it has).
        _git(["remote", "remove", "origin"], clone, env)
        origin = subprocess.run(
            ["git", "remote", "get-url", "origin"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if origin.returncode == 0 and origin.stdout.strip():
            _git(["remote", "add", "origin", origin.stdout.strip()], clone, env)
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
        proc = subprocess.run(args, cwd=clone, env=env, capture_output=True, text=True, check=False)
        rebuilt_report = _read_report(_dist(clone, clone_config) / "gopipe" / "report.json")
        diffs = compare(recorded, recorded_artifacts(rebuilt_report), root, clone)
        status = "reproducible" if not diffs and proc.returncode == 0 else "differs"
        if proc.returncode != 0 and not diffs:
            status = "rebuild failed"
        result = {
            "status": status,
            "commit": sha,
            "recorded_dirty": bool(git.get("dirty")),
            "rebuilt_in": str(clone),
            "stages": stages,
            "compared": sorted(recorded),
            "differences": [asdict(d) for d in diffs],
            "rebuild_exit_code": proc.returncode,
        }
        out.mkdir(parents=True, exist_ok=True)
        (out / "verify.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        _print(result, diffs, proc)
        ok = status == "reproducible"
        if ok and not keep:
            shutil.rmtree(scratch, ignore_errors=True)
        return 0 if ok else 1
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _print(
    result: Mapping[str, Any], diffs: Sequence[Difference], proc: subprocess.CompletedProcess[str]
) -> None:
    n = len(result["compared"])
    if result["recorded_dirty"]:
        print("verify: the recorded run was built from a dirty tree; the clone has only the commit")
    if result["status"] == "reproducible":
        print(f"verify: {n} artifact{'s' * (n != 1)} rebuilt identically from {result['commit'][:12]}")
        return
    if result["status"] == "rebuild failed":
        print(f"verify: the rebuild failed (exit {proc.returncode}) in {result['rebuilt_in']}")
        print("\n".join(proc.stdout.strip().splitlines()[-15:]))
        return
    print(f"verify: {len(diffs)} of {n} artifacts differ from a rebuild of {result['commit'][:12]}:")
    for d in diffs:
        print(f"  {d.line()}")
    print(f"verify: the rebuild is kept in {result['rebuilt_in']}; details in dist/gopipe/verify.json")


def _dist(root: Path, config_file: Path | None) -> Path:
    from gopipe.config import load_config

    return load_config(root, config_file).dist


def _git(args: list[str], cwd: Path, env: Mapping[str, str]) -> None:
    proc = subprocess.run(["git", *args], cwd=cwd, env=dict(env), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ConfigError(str(cwd), "", f"git {args[0]} failed: {proc.stderr.strip()[:300]}")
