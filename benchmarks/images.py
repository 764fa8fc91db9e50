#!/usr/bin/env python3
"""Image build time for one static Go binary: docker build vs buildah bud vs gopipe's
daemonless OCI builder, side by side in one run.

* ``docker``  — ``docker build --no-cache`` (classic builder, ``FROM scratch``, the
  examples/hello Dockerfile) against a private dockerd (vfs) started from tests/harness.
* ``buildah`` — ``buildah bud --isolation chroot --layers=false`` of the same Dockerfile and
  context, private vfs storage from tests/harness.
* ``oci``     — ``gopipe_oci.build_image`` (in-process, ko-style: built-in static
  base + one layer with the binary) writing an OCI layout.

Every round runs the three in a rotated order (so none always goes first), removes what
the previous round produced (untimed), and times one build each. Medians, minimums and
ratios against ``oci`` are printed. Note what each produces: docker/buildah store
*uncompressed* layers in their local store (compression happens at push), the OCI
builder writes gzip-compressed, content-addressed blobs ready to push — so it does the
compression work the others defer, and the ratios are, if anything, in their favour.

With ``--export`` docker and buildah also write what the OCI builder writes — an OCI
layout with compressed layers (``buildah push IMAGE oci:DIR``; ``docker save`` then
``skopeo copy docker-archive:… oci:…``) — which is the like-for-like "ready to push" time.

    python benchmarks/images.py [--rounds 7] [--platforms linux/amd64,linux/arm64] [--export]
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
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

EXAMPLE = ROOT / "examples" / "hello"
EPOCH = 1_767_323_045


def build_binaries(work: Path, platforms: list[str]) -> dict[str, Path]:
    """Static, stamped binaries as gopipe's build stage makes them."""
    go = shutil.which("go") or "/usr/local/go/bin/go"
    out: dict[str, Path] = {}
    for plat in platforms:
        goos, goarch = plat.split("/")[:2]
        binary = work / "bin" / f"{goos}-{goarch}" / "hello"
        env = {**os.environ, "CGO_ENABLED": "0", "GOOS": goos, "GOARCH": goarch}
        subprocess.run(
            [
                go,
                "build",
                "-trimpath",
                "-ldflags=-s -w -X main.version=bench -buildid=",
                "-o",
                str(binary),
                "./cmd/hello",
            ],
            cwd=EXAMPLE,
            env=env,
            check=True,
        )
        out[plat] = binary
    return out


def make_contexts(work: Path, binaries: dict[str, Path]) -> dict[str, Path]:
    """One build context per platform, as the docker/buildah packagers lay them out."""
    contexts: dict[str, Path] = {}
    for plat, binary in binaries.items():
        ctx = work / "ctx" / plat.replace("/", "-")
        ctx.mkdir(parents=True)
        shutil.copy2(binary, ctx / "hello")
        shutil.copy2(EXAMPLE / "Dockerfile", ctx / "Dockerfile")
        contexts[plat] = ctx
    return contexts


def run_quiet(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--platforms",
        default="linux/amd64",
        help="comma-separated linux platforms per build (default linux/amd64)",
    )
    parser.add_argument(
        "--export",
        action="store_true",
        help="docker/buildah also export an OCI layout (compressed), like oci",
    )
    args = parser.parse_args()
    platforms = [p.strip() for p in args.platforms.split(",") if p.strip()]

    from tests.harness import procs
    from tests.harness.buildah import make_buildah
    from tests.harness.dockerd import start_dockerd

    build_image: Callable[..., object] | None
    try:  # the daemonless builder (plugins/gopipe_oci)
        from gopipe_oci import build_image
    except ImportError:  # HOOK: without the OCI builder, only docker and buildah are compared
        build_image = None

    work = Path(tempfile.mkdtemp(prefix="gopipe-bench-images-"))
    try:
        binaries = build_binaries(work, platforms)
        contexts = make_contexts(work, binaries)
        buildah = make_buildah(work / "buildah")
        benv = {**os.environ, **buildah.env()}
        with start_dockerd(work / "dockerd") as dockerd:
            denv = {**os.environ, **dockerd.env()}

            skopeo = shutil.which("skopeo") or "skopeo"

            def docker_build(n: int) -> None:
                for plat, ctx in contexts.items():
                    tag = f"bench:{n}-{plat.split('/')[1]}"
                    run_quiet(
                        dockerd.cmd("build", "--no-cache", "--platform", plat, "-t", tag, str(ctx)), denv
                    )
                    if args.export:
                        tar = work / "export" / f"docker-{n}-{plat.split('/')[1]}.tar"
                        tar.parent.mkdir(parents=True, exist_ok=True)
                        run_quiet(dockerd.cmd("save", "-o", str(tar), tag), denv)
                        run_quiet(
                            [
                                skopeo,
                                "--insecure-policy",
                                "copy",
                                "--quiet",
                                f"docker-archive:{tar}",
                                f"oci:{work / 'export' / f'docker-{n}'}:{plat.split('/')[1]}",
                            ],
                            denv,
                        )

            def docker_clean(n: int) -> None:
                shutil.rmtree(work / "export", ignore_errors=True)
                for plat in contexts:
                    run_quiet(dockerd.cmd("rmi", "-f", f"bench:{n}-{plat.split('/')[1]}"), denv)

            def buildah_build(n: int) -> None:
                for plat, ctx in contexts.items():
                    tag = f"localhost/bench:{n}-{plat.split('/')[1]}"
                    run_quiet(
                        buildah.cmd(
                            "bud",
                            "--isolation",
                            "chroot",
                            "--layers=false",
                            "--platform",
                            plat,
                            "-t",
                            tag,
                            str(ctx),
                        ),
                        benv,
                    )
                    if args.export:
                        layout = work / "export" / f"buildah-{n}"
                        layout.parent.mkdir(parents=True, exist_ok=True)
                        run_quiet(
                            buildah.cmd("push", "--quiet", tag, f"oci:{layout}:{plat.split('/')[1]}"), benv
                        )

            def buildah_clean(n: int) -> None:
                shutil.rmtree(work / "export", ignore_errors=True)
                for plat in contexts:
                    run_quiet(buildah.cmd("rmi", "-f", f"localhost/bench:{n}-{plat.split('/')[1]}"), benv)

            def oci_build(n: int) -> None:
                assert build_image is not None
                build_image(
                    binaries,
                    work / "oci" / str(n),
                    name="hello",
                    epoch=EPOCH,
                    binary_path="/hello",
                    version="bench",
                )

            def oci_clean(n: int) -> None:
                shutil.rmtree(work / "oci" / str(n), ignore_errors=True)

            contenders: dict[str, tuple[Callable[[int], None], Callable[[int], None]]] = {
                "docker": (docker_build, docker_clean),
                "buildah": (buildah_build, buildah_clean),
            }
            if build_image is not None:
                contenders["oci"] = (oci_build, oci_clean)
            else:
                print("gopipe_oci.build_image not found: comparing docker and buildah only")

            names = list(contenders)
            for name in names:  # warm-up (page cache, daemon, imports), untimed
                build, clean = contenders[name]
                build(999)
                clean(999)
            times: dict[str, list[float]] = {n: [] for n in names}
            for rnd in range(args.rounds):
                order = names[rnd % len(names) :] + names[: rnd % len(names)]
                for name in order:
                    build, clean = contenders[name]
                    start = time.perf_counter()
                    build(rnd)
                    times[name].append(time.perf_counter() - start)
                    clean(rnd)

        size = sum(b.stat().st_size for b in binaries.values()) / 1e6
        what = "build + export to an OCI layout" if args.export else "build into the local store"
        print(
            f"\nimage {what}, {len(platforms)} platform(s) ({', '.join(platforms)}), "
            f"{size:.1f} MB of binaries, {args.rounds} rounds, alternating order"
        )
        print(f"{'builder':<10}{'median s':>10}{'min s':>10}{'x oci':>10}")
        base = statistics.median(times["oci"]) if "oci" in times else None
        for name in names:
            med = statistics.median(times[name])
            ratio = f"{med / base:.1f}x" if base else "-"
            print(f"{name:<10}{med:>10.3f}{min(times[name]):>10.3f}{ratio:>10}")
        if base:
            print(
                "ratios: "
                + ", ".join(
                    f"{n}/oci = {statistics.median(times[n]) / base:.1f}" for n in names if n != "oci"
                )
            )
    finally:
        procs.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
