"""Process helpers shared by the service fixtures.

Every service runs in its own session (so its whole process group can be
signalled at teardown), logs to a file (so a failed readiness check can show
why), and listens on a port picked from the kernel (so parallel test runs on
the same machine never collide).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

import pytest

APT_HINT = "apt-get install -y $(cat scripts/deps/apt-services.txt)"
T = TypeVar("T")

PIP_HINT = "pip install -r scripts/deps/pip-test.txt"


def require_binary(name: str, package: str) -> str:
    """Return the absolute path of `name`, failing the test loudly if it is missing.

    A missing service binary is a broken test environment, not a reason to skip.
    """
    path = shutil.which(name) or _sbin(name)
    if path is None:
        pytest.fail(
            f"{name} not found: install the Debian package {package!r} with "
            f"scripts/deps/apt-services.txt ({APT_HINT})",
            pytrace=False,
        )
    return path


def _sbin(name: str) -> str | None:
    """Look in the sbin directories that a non-login root shell may lack on PATH."""
    for d in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        candidate = Path(d) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def free_port() -> int:
    """Ask the kernel for an unused TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_tail(log: Path, lines: int = 40) -> str:
    """Last lines of a log file, for error messages."""
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log file)"
    return "\n".join(text.splitlines()[-lines:])


def start(
    cmd: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start `cmd` in a new session with stdout+stderr appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it does not exit in time."""
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    # Children may outlive the leader: always finish the group off.
    _signal_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    log: Path,
    proc: subprocess.Popen[bytes] | None = None,
    timeout: float = 30.0,
    interval: float = 0.1,
) -> None:
    """Poll `check` until it is true; raise with the log tail on timeout or early exit."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"{what} exited with code {proc.returncode} before it was ready; log {log}:\n{log_tail(log)}"
            )
        with contextlib.suppress(OSError):
            if check():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout:.0f}s; log {log}:\n{log_tail(log)}")
        time.sleep(interval)


def tcp_check(host: str, port: int) -> Callable[[], bool]:
    """Readiness check: something accepts TCP connections on host:port."""

    def check() -> bool:
        with socket.create_connection((host, port), timeout=1):
            return True

    return check


def unix_check(path: Path) -> Callable[[], bool]:
    """Readiness check: something accepts connections on a unix socket."""

    def check() -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect(str(path))
            return True

    return check


def http_check(
    url: str,
    *,
    statuses: Sequence[int] = (200,),
    context: ssl.SSLContext | None = None,
) -> Callable[[], bool]:
    """Readiness check: GET `url` answers with one of `statuses`."""

    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as resp:
                return int(resp.status) in statuses
        except urllib.error.HTTPError as err:
            return err.code in statuses

    return check


@contextlib.contextmanager
def running(
    cmd: Sequence[str],
    *,
    log: Path,
    ready: Callable[[], bool],
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 30.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a service, wait until `ready`, and always stop its process group."""
    proc = start(cmd, log=log, env=env, cwd=cwd)
    try:
        wait_until(ready, what=what, log=log, proc=proc, timeout=timeout)
        yield proc
    finally:
        stop(proc)


def on_free_port(
    serve: Callable[[int], AbstractContextManager[T]], attempts: int = 3
) -> AbstractContextManager[T]:
    """Enter `serve(port)` on a free port, retrying if another process grabbed it first.

    The port is free when picked but only bound when the service starts; with
    several test sessions on one machine that window is occasionally lost.
    """

    @contextlib.contextmanager
    def attempt() -> Iterator[T]:
        for n in range(attempts):
            stack = contextlib.ExitStack()
            try:
                value = stack.enter_context(serve(free_port()))
            except RuntimeError as err:
                stack.close()
                if n + 1 < attempts and "address already in use" in str(err).lower():
                    continue
                raise
            with stack:
                yield value
            return

    return attempt()


def rmtree(path: Path) -> None:
    """Remove a temp tree, tolerating read-only files left by image tools."""

    def retry(func: Callable[..., object], p: str, _exc: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(p, 0o700)
            func(p)

    if not path.exists():
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:
        shutil.rmtree(path, onerror=retry)


STARTUP_SECONDS: dict[str, float] = {}


def record_startup(name: str, started: float) -> None:
    """Remember how long a fixture took to get its service ready (shown in the summary)."""
    STARTUP_SECONDS[name] = round(time.monotonic() - started, 2)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print service start-up times so slow fixtures are noticed."""
    if STARTUP_SECONDS:
        terminalreporter.section("service start-up times")
        for name, seconds in sorted(STARTUP_SECONDS.items()):
            terminalreporter.write_line(f"{name}: {seconds:.2f}s")
