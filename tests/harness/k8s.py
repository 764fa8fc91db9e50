"""A real Kubernetes control plane for gopipe's deploy tests.

Why: deploy steps (kubectl apply, rollout status, Helm, Argo Rollouts / Flagger CRDs) are
only trustworthy when tested against a real kube-apiserver with real controllers. Nothing
can be downloaded here, so the binaries are compiled from Go modules by
``scripts/k8s/build.sh`` (cached per version) and kwok fakes the kubelets so pods become
Running/Ready without containers. See docs/k8s-testenv.md.

Fixtures: ``k8s_cluster`` (session) yields a started :class:`ControlPlane`;
``k8s_namespace`` (function) yields a fresh namespace name, deleted afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "k8s" / "build.sh"
KWOK_CONFIG = REPO_ROOT / "tests" / "fixtures" / "k8s" / "kwok-stages.yaml"

#: Nodes carrying this annotation are driven by kwok; others are left alone.
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
#: Pods annotated with this key set to "true" run but never become Ready (see kwok-stages.yaml).
NEVER_READY_ANNOTATION = "testenv.gopipe.dev/never-ready"

SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"


class ControlPlaneError(RuntimeError):
    """The binaries could not be built or the control plane did not come up."""


@dataclass(frozen=True)
class Binaries:
    """Paths and versions reported by build.sh (its KEY=VALUE stdout)."""

    k8s_version: str
    k8s_bin: Path
    kwok: Path
    helm: Path
    etcd: Path

    @staticmethod
    def env_value(text: str, key: str) -> str:
        """One value from build.sh's KEY=VALUE output."""
        kv = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        return kv[key]

    @classmethod
    def from_env_lines(cls, text: str) -> Binaries:
        """Parse build.sh's KEY=VALUE output so versions live only in the script."""

        def val(key: str) -> str:
            return cls.env_value(text, key)

        return cls(
            k8s_version=val("K8S_VERSION"),
            k8s_bin=Path(val("K8S_BIN")),
            kwok=Path(val("KWOK_BIN")) / "kwok",
            helm=Path(val("HELM_BIN")) / "helm",
            etcd=Path(val("ETCD_BIN")) / "etcd",
        )

    def missing(self) -> list[Path]:
        """Binaries that are not (yet) built."""
        wanted = [
            self.k8s_bin / n
            for n in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
        ]
        wanted += [self.kwok, self.helm, self.etcd]
        return [p for p in wanted if not os.access(p, os.X_OK)]


def _tail(path: Path, lines: int = 40) -> str:
    """Last lines of a log file, for failure messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def ensure_binaries() -> Binaries:
    """Return the built binaries, running build.sh first if any is missing.

    Why: a fresh machine (or CI) must work without a manual step; a cold build takes
    minutes, a warm check is a few file tests. The build log is kept in the cache dir
    (CACHE/build.log) so it survives the control plane's temp dir.
    """
    printed = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--print"], check=True, capture_output=True, text=True
    )
    bins = Binaries.from_env_lines(printed.stdout)
    if not bins.missing():
        return bins
    cache = Path(Binaries.env_value(printed.stdout, "CACHE"))
    cache.mkdir(parents=True, exist_ok=True)
    log = cache / "build.log"
    with log.open("w") as fh:
        proc = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, stderr=fh, text=True)
    if proc.returncode != 0:
        raise ControlPlaneError(
            f"scripts/k8s/build.sh failed (exit {proc.returncode}); log {log}:\n{_tail(log)}"
        )
    bins = Binaries.from_env_lines(proc.stdout)
    if bins.missing():
        raise ControlPlaneError(f"build.sh succeeded but these are missing: {bins.missing()}")
    return bins


def free_port() -> int:
    """A loopback TCP port that is free right now (the small race is acceptable in tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(
    what: str, check: Callable[[], bool], timeout: float, alive: Callable[[], None], interval: float = 0.2
) -> None:
    """Poll ``check`` until true; ``alive`` raises early if a process died."""
    deadline = time.monotonic() + timeout
    while True:
        alive()
        try:
            if check():
                return
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
        if time.monotonic() > deadline:
            raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class ControlPlane:
    """etcd + kube-apiserver + controller-manager + scheduler + kwok on loopback ports.

    Attributes set by :meth:`start`: ``kubeconfig`` (admin kubeconfig file), ``server``
    (https URL), ``token`` (bearer token of a system:masters user), ``bin_dir`` (kubectl,
    helm, kwok), ``version`` (pinned Kubernetes version, e.g. ``v1.34.4``), ``workdir``.
    """

    def __init__(self, nodes: int = 2, startup_timeout: float = 120.0) -> None:
        self.nodes = nodes
        self.startup_timeout = startup_timeout
        self.workdir = Path()
        self.kubeconfig = Path()
        self.server = ""
        self.token = ""
        self.bin_dir = Path()
        self.version = ""
        self.node_names: list[str] = []
        self._procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        self._ssl: ssl.SSLContext | None = None
        self._port = 0
        self._etcd_url = ""

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> ControlPlane:
        """Start every component and wait until nodes are Ready and `default` SA exists."""
        self.workdir = Path(tempfile.mkdtemp(prefix="gopipe-k8s-"))
        try:
            bins = ensure_binaries()
            self.version = bins.k8s_version
            self._link_bins(bins)
            self._write_credentials()
            self._start_etcd(bins)
            self._start_apiserver(bins)
            self._start_controllers(bins)
            self._start_kwok(bins)
            self._create_nodes()
            self._wait_ready()
        except BaseException as exc:
            detail = self.logs_tail() if self._procs else ""
            self.stop()
            if isinstance(exc, ControlPlaneError):
                raise ControlPlaneError(f"{exc}\n{detail}") from None
            raise
        return self

    def stop(self) -> None:
        """Terminate each component's process group (then kill), remove the temp dir."""
        for _name, proc, _log in reversed(self._procs):
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _name, proc, _log in reversed(self._procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        self._procs.clear()
        if self.workdir != Path() and self.workdir.exists():
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- helpers for tests -----------------------------------------------------------

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for subprocesses: kubectl/helm first on PATH, KUBECONFIG, helm dirs."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env["KUBECONFIG"] = str(self.kubeconfig)
        # Keep helm's repo cache/config out of $HOME (tests must not leak state).
        for var, sub in (
            ("HELM_CACHE_HOME", "cache"),
            ("HELM_CONFIG_HOME", "config"),
            ("HELM_DATA_HOME", "data"),
        ):
            env[var] = str(self.workdir / "helm" / sub)
        return env

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; raises CalledProcessError (with output) if check."""
        return self._run([str(self.bin_dir / "kubectl"), *args], check, input, timeout)

    def helm(self, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run helm against this cluster."""
        return self._run([str(self.bin_dir / "helm"), *args], check, None, timeout)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the API server directly (JSON in/out); cheaper than spawning kubectl."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.server + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        with urllib.request.urlopen(req, context=self._ssl, timeout=10) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def create_namespace(self, prefix: str = "t") -> str:
        """Create a uniquely named namespace and wait for its default ServiceAccount.

        Why wait: the ServiceAccount admission plugin rejects pods in a namespace whose
        `default` SA the controller-manager has not created yet.
        """
        name = f"{_dns_label(prefix, 50)}-{secrets.token_hex(4)}"
        self.api(
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        )
        _wait_for(
            f"serviceaccount default in {name}",
            lambda: self._exists(f"/api/v1/namespaces/{name}/serviceaccounts/default"),
            30,
            self._check_alive,
        )
        return name

    def delete_namespace(self, name: str) -> None:
        """Delete a namespace without waiting (kwok finishes pod deletion in the background)."""
        with contextlib.suppress(urllib.error.URLError, OSError):
            self.api("DELETE", f"/api/v1/namespaces/{name}")

    def logs_tail(self, lines: int = 30) -> str:
        """Tail of each component's log, for failure messages."""
        return "\n".join(f"--- {name} ({log}) ---\n{_tail(log, lines)}" for name, _p, log in self._procs)

    # ---- internals -------------------------------------------------------------------

    def _run(
        self, cmd: list[str], check: bool, input: str | None, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            cmd, env=self.env(), input=input, capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    def _exists(self, path: str) -> bool:
        try:
            self.api("GET", path)
            return True
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return False
            raise

    def _link_bins(self, bins: Binaries) -> None:
        """One PATH dir with kubectl, helm and kwok (they live in per-version cache dirs)."""
        self.bin_dir = self.workdir / "bin"
        self.bin_dir.mkdir()
        for src in (bins.k8s_bin / "kubectl", bins.helm, bins.kwok):
            (self.bin_dir / src.name).symlink_to(src)

    def _write_credentials(self) -> None:
        """Serving cert, service-account key, token file and admin kubeconfig."""
        pki = self.workdir / "pki"
        pki.mkdir()
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                str(pki / "serving.key"),
                "-out",
                str(pki / "serving.crt"),
                "-days",
                "3650",
                "-subj",
                "/CN=gopipe-testenv-apiserver",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost,"
                "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["openssl", "genrsa", "-out", str(pki / "sa.key"), "2048"], check=True, capture_output=True
        )
        self.token = secrets.token_hex(24)
        (pki / "tokens.csv").write_text(f'{self.token},gopipe-admin,{uuid.uuid4()},"system:masters"\n')
        self._port = free_port()
        self.server = f"https://127.0.0.1:{self._port}"
        self.kubeconfig = self.workdir / "kubeconfig"
        # JSON is valid YAML, so no YAML library is needed.
        self.kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "gopipe-testenv",
                    "clusters": [
                        {
                            "name": "gopipe-testenv",
                            "cluster": {
                                "server": self.server,
                                "certificate-authority": str(pki / "serving.crt"),
                            },
                        }
                    ],
                    "users": [{"name": "gopipe-admin", "user": {"token": self.token}}],
                    "contexts": [
                        {
                            "name": "gopipe-testenv",
                            "context": {
                                "cluster": "gopipe-testenv",
                                "user": "gopipe-admin",
                                "namespace": "default",
                            },
                        }
                    ],
                },
                indent=2,
            )
        )
        self.kubeconfig.chmod(0o600)
        self._ssl = ssl.create_default_context(cafile=str(pki / "serving.crt"))

    def _spawn(self, name: str, cmd: list[str]) -> None:
        """Start a component in its own process group, logging to workdir/logs/NAME.log."""
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        log = logs / f"{name}.log"
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                cmd,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.workdir,
            )
        self._procs.append((name, proc, log))

    def _check_alive(self) -> None:
        for name, proc, log in self._procs:
            if proc.poll() is not None:
                raise ControlPlaneError(f"{name} exited with {proc.returncode} during startup; log {log}")

    def _start_etcd(self, bins: Binaries) -> None:
        client, peer = free_port(), free_port()
        self._etcd_url = f"http://127.0.0.1:{client}"
        self._spawn(
            "etcd",
            [
                str(bins.etcd),
                "--name=testenv",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self._etcd_url}",
                f"--advertise-client-urls={self._etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=testenv=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )

        def healthy() -> bool:
            with urllib.request.urlopen(self._etcd_url + "/health", timeout=2) as resp:
                return bool(json.loads(resp.read()).get("health") == "true")

        _wait_for("etcd /health", healthy, 30, self._check_alive)

    def _start_apiserver(self, bins: Binaries) -> None:
        pki = self.workdir / "pki"
        self._spawn(
            "kube-apiserver",
            [
                str(bins.k8s_bin / "kube-apiserver"),
                f"--etcd-servers={self._etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self._port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={pki / 'serving.crt'}",
                f"--tls-private-key-file={pki / 'serving.key'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.key'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=RBAC",
                f"--token-auth-file={pki / 'tokens.csv'}",
                "--allow-privileged=true",
                # Nothing may route to the loopback advertise address; skip the Endpoints sync.
                "--endpoint-reconciler-type=none",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
            ],
        )

        def ready() -> bool:
            req = urllib.request.Request(
                self.server + "/readyz", headers={"Authorization": f"Bearer {self.token}"}
            )
            with urllib.request.urlopen(req, context=self._ssl, timeout=2) as resp:
                return bool(resp.status == 200)

        _wait_for("kube-apiserver /readyz", ready, self.startup_timeout, self._check_alive)

    def _start_controllers(self, bins: Binaries) -> None:
        pki = self.workdir / "pki"
        kc = f"--kubeconfig={self.kubeconfig}"
        self._spawn(
            "kube-controller-manager",
            [
                str(bins.k8s_bin / "kube-controller-manager"),
                kc,
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                f"--root-ca-file={pki / 'serving.crt'}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(bins.k8s_bin / "kube-scheduler"),
                kc,
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
            ],
        )

    def _start_kwok(self, bins: Binaries) -> None:
        self._spawn(
            "kwok",
            [
                str(bins.kwok),
                f"--kubeconfig={self.kubeconfig}",
                f"--config={KWOK_CONFIG}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                f"--cidr={POD_CIDR}",
                "--node-ip=127.0.0.1",
                "--node-lease-duration-seconds=40",
            ],
        )

    def _create_nodes(self) -> None:
        """Register fake nodes; kwok (annotation selector) turns them Ready."""
        self.node_names = [f"kwok-node-{i}" for i in range(self.nodes)]
        for name in self.node_names:
            self.api(
                "POST",
                "/api/v1/nodes",
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": name,
                        "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                        "labels": {
                            "kubernetes.io/hostname": name,
                            "kubernetes.io/os": "linux",
                            "kubernetes.io/arch": "amd64",
                            "type": "kwok",
                        },
                    },
                    "status": {
                        "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                        "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                    },
                },
            )

    def _nodes_ready(self) -> bool:
        items = self.api("GET", "/api/v1/nodes")["items"]
        ready = {
            n["metadata"]["name"]
            for n in items
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
        }
        return set(self.node_names) <= ready

    def _wait_ready(self) -> None:
        _wait_for("fake nodes Ready (kwok)", self._nodes_ready, 60, self._check_alive)
        _wait_for(
            "serviceaccount default/default",
            lambda: self._exists("/api/v1/namespaces/default/serviceaccounts/default"),
            60,
            self._check_alive,
        )


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the whole process group created by start_new_session."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _dns_label(text: str, limit: int) -> str:
    """Lower-case DNS-1123 label fragment from an arbitrary test name."""
    out = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    while "--" in out:
        out = out.replace("--", "-")
    return (out[:limit].rstrip("-")) or "t"


@pytest.fixture(scope="session")
def k8s_cluster() -> Iterator[ControlPlane]:
    """A started control plane shared by the whole session; fails (never skips) if broken.

    pytest caches a failed session fixture, so a broken build is reported once per test
    without being retried.
    """
    cp = ControlPlane()
    error = ""
    try:
        cp.start()
    except (ControlPlaneError, subprocess.CalledProcessError, OSError) as exc:
        error = f"Kubernetes test control plane did not start: {exc}"
    if error:
        pytest.fail(error, pytrace=False)
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture
def k8s_namespace(k8s_cluster: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test (named after it), deleted afterwards."""
    name = k8s_cluster.create_namespace(request.node.name)
    try:
        yield name
    finally:
        k8s_cluster.delete_namespace(name)
