#!/usr/bin/env python3
"""``gopipe run release --snapshot`` versus ``goreleaser release --snapshot --clean``, side by side.

Both build examples/hello for the example's four targets and package the same outputs:
tar.gz archives (zip for windows) holding the binary and README, and a sha256 checksums file.
The gopipe side is the release pipeline with the archive packager (SBOMs off, as GoReleaser
needs syft for them) and ``--no-cache`` (GoReleaser has no stage cache); GoReleaser gets the
equivalent ``.goreleaser.yaml`` written below. Go's own build cache is warm for both (one
untimed warm-up each), then they alternate for N rounds; medians and the ratio are printed.

GoReleaser is the version pinned in benchmarks/tools.py (installed for benchmarks only, cached
per version); ``--goreleaser PATH`` runs another build instead.

    python benchmarks/release_snapshot.py [--goreleaser PATH] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tools import peer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "hello"

GOPIPE_CONFIG = """[tool.gopipe]
main = ["./cmd/hello"]
targets = ["linux/amd64", "linux/arm64", "darwin/arm64", "windows/amd64"]

[tool.gopipe.package]
providers = ["archive"]

[tool.gopipe.package.archive]
sbom = false
files = ["README*"]
"""

GORELEASER_CONFIG = """version: 2
project_name: hello
builds:
  - main: ./cmd/hello
    binary: hello
    env: [CGO_ENABLED=0]
    flags: [-trimpath]
    ldflags:
      - -s -w -X main.version={{.Version}} -X main.commit={{.Commit}} -X main.date={{.Date}} -buildid=
    targets: [linux_amd64, linux_arm64, darwin_arm64, windows_amd64]
archives:
  - formats: [tar.gz]
    format_overrides:
      - goos: windows
        formats: [zip]
    files: [README*]
checksum:
  name_template: checksums.txt
changelog:
  disable: true
release:
  disable: true
"""


def prepare(tmp: Path) -> Path:
    repo = tmp / "hello"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("dist", "noxfile.py"))
    (repo / "pyproject.toml").write_text(GOPIPE_CONFIG)
    (repo / ".goreleaser.yaml").write_text(GORELEASER_CONFIG)
    (repo / ".gitignore").write_text("/dist/\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com"}
    env |= {"GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.com"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "bench"], ["tag", "v1.0.0"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "next"], cwd=repo, check=True, env=env)
    return repo


def timed(cmd: list[str], repo: Path) -> float:
    shutil.rmtree(repo / "dist", ignore_errors=True)
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    took = time.monotonic() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd[:3])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--goreleaser", type=Path, help="default: the version pinned in tools.py")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    gopipe = [
        sys.executable,
        "-m",
        "gopipe.cli",
        "run",
        "release",
        "--snapshot",
        "--no-cache",
        "--plain",
        "--no-notify",
    ]
    exe = args.goreleaser or peer("goreleaser", EXAMPLE)
    goreleaser = [str(exe), "release", "--snapshot", "--clean"]
    with tempfile.TemporaryDirectory(prefix="gopipe-bench-") as tmp:
        repo = prepare(Path(tmp))
        timed(gopipe, repo)  # warm-ups: Go's build cache, Python's bytecode
        timed(goreleaser, repo)
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(timed(gopipe, repo))
            theirs.append(timed(goreleaser, repo))
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"gopipe run release --snapshot:         median {a:.2f}s  {[round(x, 2) for x in ours]}")
    print(f"goreleaser release --snapshot --clean: median {b:.2f}s  {[round(x, 2) for x in theirs]}")
    print(f"ratio gopipe/goreleaser: {a / b:.2f}")


if __name__ == "__main__":
    main()
