"""A private Docker daemon (Debian `docker.io` 20.10) with its own containerd.

Why it is started this way:

* containerd is started explicitly (own config, root, state and socket under
  the temp dir) and passed with `--containerd`.  dockerd 20.10 would otherwise
  start a managed containerd only if `/run/containerd/containerd.sock` does
  not exist, and silently share the system one (and its `moby` namespace)
  when it does - which breaks as soon as two test sessions run at once.
* Both run inside a private mount namespace (`unshare --mount`) in which a
  temp directory is bind-mounted over `/etc/docker/certs.d`.  dockerd 20.10
  hard-codes that path for registry CAs (only rootless mode moves it), so this
  is how `Dockerd.trust(registry)` adds `certs.d/HOST:PORT/ca.crt` without
  touching the host.  containerd must be in the same namespace because the
  container network-namespace files dockerd bind-mounts under exec-root are
  only visible there.
* No iptables, no bridge, no ip_forward sysctl: containers run with
  `--network none`, and the host network config is never changed.
* vfs storage: slow for big images but needs no overlay mounts and leaves
  nothing mounted behind.
* 127.0.0.0/8 is an insecure-registry range (listed in daemon.json; dockerd
  also adds it by default), so plain-HTTP registries on 127.0.0.1 work, and
  for the TLS registry dockerd skips certificate verification - the certs.d CA
  only matters for registries on other addresses.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.harness import procs
from tests.harness.registry import Registry

_WRAPPER = r"""
set -eu
mount --bind "$1" /etc/docker/certs.d
"$2" --config "$3" >>"$4" 2>&1 &
i=0
while [ ! -S "$5" ]; do
  i=$((i + 1)); [ "$i" -gt 300 ] && { echo "containerd did not start" >&2; exit 1; }
  sleep 0.1
done
shift 5
exec "$@"
"""


@dataclass(frozen=True)
class Dockerd:
    """How to reach the private daemon."""

    host: str  # "unix:///tmp/gopipe-dockerd-XXXX/docker.sock"
    config_dir: Path  # DOCKER_CONFIG for the CLI (auth from `docker login` lands here)
    certs_dir: Path  # seen by dockerd as /etc/docker/certs.d
    data_root: Path
    docker: str  # docker CLI binary

    def env(self) -> dict[str, str]:
        """DOCKER_HOST and DOCKER_CONFIG; add to os.environ for subprocesses."""
        return {
            "DOCKER_HOST": self.host,
            "DOCKER_CONFIG": str(self.config_dir),
            # The daemon has no BuildKit-capable CLI plugin here; use the classic builder.
            "DOCKER_BUILDKIT": "0",
        }

    def cmd(self, *args: str) -> list[str]:
        """A docker CLI command line (use with `env()`)."""
        return [self.docker, *args]

    def run(
        self, *args: str, input: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI against this daemon; raise with output on failure."""
        done = subprocess.run(
            self.cmd(*args),
            env={**os.environ, **self.env()},
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"docker {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )
        return done

    def trust(self, registry: Registry) -> None:
        """Install the registry's CA as certs.d/HOST:PORT/ca.crt (read per request)."""
        if registry.ca_cert is None:
            return
        target = self.certs_dir / registry.host
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(registry.ca_cert, target / "ca.crt")


def _containerd_config(base: Path) -> tuple[Path, Path]:
    """Write a containerd config whose every path is under `base`; return (config, socket)."""
    sock = base / "containerd.sock"
    config = base / "containerd.toml"
    config.write_text(
        "\n".join(
            [
                "version = 2",
                f'root = "{base / "root"}"',
                f'state = "{base / "state"}"',
                'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
                "[grpc]",
                f'  address = "{sock}"',
                "[debug]",
                '  address = ""',
                "[metrics]",
                '  address = ""',
                '[plugins."io.containerd.internal.v1.opt"]',
                f'  path = "{base / "opt"}"',
                "",
            ]
        )
    )
    return config, sock


@contextlib.contextmanager
def start_dockerd(tmp: Path) -> Iterator[Dockerd]:
    """Run containerd + dockerd with all state under `tmp`; stop both on exit."""
    dockerd = procs.require_binary("dockerd", "docker.io")
    containerd = procs.require_binary("containerd", "containerd")
    procs.require_binary("runc", "runc")
    unshare = procs.require_binary("unshare", "util-linux")
    # The docker.io CLI matches the daemon; a newer one elsewhere on PATH also works.
    docker = "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else None
    docker = docker or procs.require_binary("docker", "docker.io")

    for sub in ("data", "exec", "containerd", "certs.d", "client"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    (tmp / "client" / "config.json").write_text("{}\n")
    daemon_json = tmp / "daemon.json"
    daemon_json.write_text(json.dumps({"insecure-registries": ["127.0.0.0/8"]}))
    ctr_config, ctr_sock = _containerd_config(tmp / "containerd")
    # The bind-mount target must exist; creating an empty directory is harmless.
    Path("/etc/docker/certs.d").mkdir(parents=True, exist_ok=True)

    sock = tmp / "docker.sock"
    cmd = [
        unshare, "--mount", "--propagation", "private", "--",
        "sh", "-c", _WRAPPER, "sh",
        str(tmp / "certs.d"), containerd, str(ctr_config), str(tmp / "containerd.log"),
        str(ctr_sock),
        dockerd,
        "--config-file", str(daemon_json),
        "--containerd", str(ctr_sock),
        "--data-root", str(tmp / "data"),
        "--exec-root", str(tmp / "exec"),
        "--pidfile", str(tmp / "docker.pid"),
        "--host", f"unix://{sock}",
        "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
        "--bridge=none", "--storage-driver=vfs", "--userland-proxy=false",
    ]  # fmt: skip
    env = {**os.environ, "PATH": f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"}
    log = tmp / "dockerd.log"
    proc = procs.start(cmd, log=log, env=env)
    try:
        procs.wait_until(procs.unix_check(sock), what="dockerd", log=log, proc=proc, timeout=60)
        info = Dockerd(
            host=f"unix://{sock}",
            config_dir=tmp / "client",
            certs_dir=tmp / "certs.d",
            data_root=tmp / "data",
            docker=docker,
        )
        procs.wait_until(lambda: _pings(info), what="dockerd API", log=log, proc=proc)
        yield info
    finally:
        # dockerd first (it stops containers through containerd), then the group.
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        procs.stop(proc)
        _kill_strays(str(tmp))


def _pings(info: Dockerd) -> bool:
    done = subprocess.run(
        info.cmd("version", "--format", "{{.Server.Version}}"),
        env={**os.environ, **info.env()},
        capture_output=True,
        timeout=10,
        check=False,
    )
    return done.returncode == 0


def _kill_strays(marker: str) -> None:
    """SIGKILL leftover containerd shims (own process group) whose cmdline names `marker`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if marker.encode() in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)


@pytest.fixture(scope="session")
def dockerd() -> Iterator[Dockerd]:
    """Private dockerd + containerd under a temp dir (state removed at teardown)."""
    tmp = Path(tempfile.mkdtemp(prefix="gopipe-dockerd-"))
    try:
        started = time.monotonic()
        with start_dockerd(tmp) as info:
            procs.record_startup("dockerd", started)
            yield info
    finally:
        procs.rmtree(tmp)
