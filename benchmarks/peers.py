#!/usr/bin/env python3
"""gopipe against the single-purpose Go tools users would pick instead, side by side.

* build   — ``gopipe run build --no-cache`` vs ``goreleaser build --snapshot --clean``:
  the same 4 targets (linux/amd64, linux/arm64, darwin/arm64, windows/amd64), CGO_ENABLED=0,
  -trimpath, the same ldflags and -buildid=.
* release — ``gopipe run package --no-cache`` (archive packager only, SBOMs off, as
  GoReleaser writes none by default) vs ``goreleaser release --snapshot --clean``: build,
  tar.gz archives (zip for windows) with README/LICENSE, checksums.txt.
* image   — ``gopipe run upload --no-cache`` (oci-image + registry uploader, two linux
  platforms) vs ``ko build --bare``: the same base image (pushed once, untimed, to a local
  registry from tests/harness/registry.py), the same platforms and ldflags, the same registry.

Each on examples/hello and on a generated module of ``--packages`` packages (a few MB
binary). Go's build cache is warm (one untimed run of each side first), as on a developer
machine or a CI runner with a restored cache. GoReleaser v2 and ko are installed pinned by
benchmarks/tools.py (cached per version; the first run builds them).

    python benchmarks/peers.py [--rounds 3] [--packages 160] [--only build,release,image]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import (
    LDFLAGS,
    TARGETS,
    Side,
    alternate,
    bench_env,
    commit_all,
    compile_bytecode,
    gopipe_config,
    hello_repo,
    load,
    report,
    stable_work,
    synthetic_repo,
)
from tools import peer

IMAGE_PLATFORMS = ("linux/amd64", "linux/arm64")
GOALS = {"build": 0.8, "release": 0.8, "image": 0.8}


def goreleaser_yaml(main: str, binary: str) -> str:
    goos = sorted({t.split("/")[0] for t in TARGETS})
    goarch = sorted({t.split("/")[1] for t in TARGETS})
    ignore = [
        (o, a) for o in goos for a in goarch if f"{o}/{a}" not in TARGETS
    ]  # GoReleaser builds the product of goos x goarch; drop what gopipe does not build
    ignores = "".join(f"      - goos: {o}\n        goarch: {a}\n" for o, a in ignore)
    return f"""version: 2
project_name: {binary}
dist: .gr-dist
builds:
  - id: {binary}
    main: {main}
    binary: {binary}
    env: [CGO_ENABLED=0]
    flags: [-trimpath]
    ldflags: ["{LDFLAGS} -buildid="]
    goos: [{", ".join(goos)}]
    goarch: [{", ".join(goarch)}]
    ignore:
{ignores}archives:
  - formats: [tar.gz]
    format_overrides:
      - goos: windows
        formats: [zip]
checksum:
  name_template: checksums.txt
changelog:
  disable: true
release:
  disable: true
"""


def prepare(repo: Path, main: str, binary: str, registry: str) -> None:
    """Both tools' configuration in the repository, committed (so neither sees a dirty tree)."""
    extra = f"""[tool.gopipe.package]
providers = ["archive", "oci-image"]

[tool.gopipe.package.archive]
sbom = false

[tool.gopipe.package.oci-image]
base = "{registry}/base:static"
insecure = true

[tool.gopipe.upload]
providers = ["registry"]

[tool.gopipe.upload.registry]
registry = "{registry}"
insecure = true
repository = "gopipe/{{name}}"
tags = ["bench"]
latest = false
"""
    text = (repo / "pyproject.toml").read_text() if (repo / "pyproject.toml").exists() else ""
    head = text.split("[tool.gopipe", 1)[0]
    (repo / "pyproject.toml").write_text(head + gopipe_config(main, extra=extra))
    (repo / ".goreleaser.yaml").write_text(goreleaser_yaml(main, binary))
    platforms = ",".join(IMAGE_PLATFORMS)
    (repo / ".ko.yaml").write_text(
        f"defaultBaseImage: {registry}/base:static\ndefaultPlatforms: [{platforms}]\n"
        f"builds:\n  - id: {binary}\n    main: {main}\n    flags: [-trimpath]\n"
        f'    ldflags: ["{LDFLAGS} -buildid="]\n'
    )
    with (repo / ".gitignore").open("a") as fh:
        fh.write("/.gr-dist/\n")
    commit_all(repo)


def push_base(repo: Path, registry: str, env: dict[str, str]) -> None:
    """The shared base: gopipe's built-in static base (with the binary) pushed as base:static."""
    config = repo / "base.toml"
    config.write_text(
        gopipe_config("./cmd/" + repo.name)
        + f"""[tool.gopipe.package]
providers = ["oci-image"]

[tool.gopipe.upload]
providers = ["registry"]

[tool.gopipe.upload.registry]
registry = "{registry}"
insecure = true
repository = "base"
tags = ["static"]
latest = false
"""
    )
    gopipe = [sys.executable, "-m", "gopipe.cli", "run", "upload", "--plain", "--no-notify", "--config"]
    side = Side(
        "base", [*gopipe, str(config), "--target", "linux/amd64", "--target", "linux/arm64"], repo, env
    )
    side.once()
    config.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--packages", type=int, default=160)
    parser.add_argument("--only", default="build,release,image")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    from tests.harness.registry import start_registry

    compile_bytecode()
    goreleaser, ko = str(peer("goreleaser")), str(peer("ko"))
    work = Path(tempfile.mkdtemp(prefix="gopipe-peers-"))
    env = bench_env()
    ratios: dict[str, list[float]] = {k: [] for k in GOALS}
    print(f"peers: {args.rounds} rounds, alternating, warm Go cache; {load()}")
    with start_registry(work / "registry", tls=False, auth=False) as reg:
        repos = [
            ("hello", hello_repo(work), "./cmd/hello"),
            ("synth", synthetic_repo(stable_work(f"synth-{args.packages}"), args.packages), "./cmd/synth"),
        ]
        for label, repo, main_pkg in repos:
            binary = main_pkg.rsplit("/", 1)[-1]
            push_base(repo, reg.host, env)
            prepare(repo, main_pkg, binary, reg.host)
            gopipe = [sys.executable, "-m", "gopipe.cli", "run", "--plain", "--no-notify", "--no-cache"]
            if "build" in wanted:
                a = Side("gopipe run build", [*gopipe, "build"], repo, env)
                b = Side(
                    "goreleaser build --snapshot", [goreleaser, "build", "--snapshot", "--clean"], repo, env
                )
                alternate([a, b], args.rounds)
                ratios["build"].append(
                    report(
                        f"{label}: build {len(TARGETS)} targets", a, b, GOALS["build"], key=f"build/{label}"
                    )
                )
            if "release" in wanted:
                a = Side(
                    "gopipe run package (archive)",
                    [*gopipe, "package", "--config", str(_only(repo, "archive"))],
                    repo,
                    env,
                )
                b = Side(
                    "goreleaser release --snapshot",
                    [goreleaser, "release", "--snapshot", "--clean"],
                    repo,
                    env,
                )
                alternate([a, b], args.rounds)
                ratios["release"].append(
                    report(
                        f"{label}: build + archives + checksums",
                        a,
                        b,
                        GOALS["release"],
                        key=f"release/{label}",
                    )
                )
            if "image" in wanted:
                targets = [x for p in IMAGE_PLATFORMS for x in ("--target", p)]
                a = Side(
                    "gopipe run upload (oci-image)",
                    [*gopipe, "upload", "--config", str(_only(repo, "oci-image")), *targets],
                    repo,
                    env,
                )
                ko_env = {**env, "KO_DOCKER_REPO": f"{reg.host}/ko-{binary}", "KO_CONFIG_PATH": str(repo)}
                b = Side(
                    "ko build",
                    [ko, "build", "--bare", "--insecure-registry", "--tags", "bench", main_pkg],
                    repo,
                    ko_env,
                )
                alternate([a, b], args.rounds)
                ratios["image"].append(
                    report(
                        f"{label}: 2-platform image to a local registry",
                        a,
                        b,
                        GOALS["image"],
                        key=f"image/{label}",
                    )
                )
    print("summary (ratio gopipe/peer per module; goal):")
    for key, values in ratios.items():
        if values:
            shown = " ".join(f"{v:.3f}" for v in values)
            met = all(v <= GOALS[key] for v in values)
            print(f"   {key:<8} {shown}   goal <= {GOALS[key]}: {'MET' if met else 'missed'}")
    print(f"done; {load()}")
    return 0


def _only(repo: Path, packager: str) -> Path:
    """A copy of the repository's config whose package stage runs one packager only."""
    text = (repo / "pyproject.toml").read_text()
    out = repo / f".bench-{packager}.toml"  # untracked: the tree stays clean for git describe
    out.write_text(text.replace('providers = ["archive", "oci-image"]', f'providers = ["{packager}"]'))
    return out


if __name__ == "__main__":
    sys.exit(main())
