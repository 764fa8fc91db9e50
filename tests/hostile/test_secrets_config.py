"""Every secret the config references is masked before anything runs, and secret files
are read only when they are small regular files (a FIFO or /dev/zero never hangs a run).

Uses the real provider registry (built-in plugins), so which ``{ env = … }`` tables are
secrets and which are plain values (a registry host, a bucket) comes from the real option
types.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import gopipe.secrets as gs
from gopipe.config import parse_options
from gopipe.config.options import doc
from gopipe.errors import ConfigError
from gopipe.manager import create_manager
from gopipe.registry import ProviderRegistry
from gopipe.secrets import MASK, Redactor, Secret


@dataclass(frozen=True)
class HookOptions:
    webhook: Secret = doc("hook")


@pytest.fixture(scope="module")
def providers() -> ProviderRegistry:
    return ProviderRegistry.collect(create_manager((), entry_points=False))


def within(seconds: float, work: Callable[[], object], unblock: Callable[[], None] = lambda: None) -> object:
    """Run ``work`` in a thread; fail (instead of hanging the suite) if it blocks."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        unblock()
        thread.join(5)
        pytest.fail(f"blocked for more than {seconds}s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


def test_secrets_of_unselected_providers_are_masked_before_selection(
    providers: ProviderRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = {
        "PROD_HOOK": "https://relay.example.com/hook/" + "r3lay0123456789abcdef",
        "HARBOR_ROBOT": "robot-pass-0123456789",
        "PAGER_ROUTING": "pager-route-0123456789",  # a provider that is not installed
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "kube.yaml").write_text("token: kube-tok3n-0123456789abcdef\n")
    raw = {
        "notify": {"webhook": {"url": {"env": "PROD_HOOK"}}},
        "upload": {"registry": {"password": {"env": "HARBOR_ROBOT"}}},
        "deploy": {"environments": {"prod": {"kubeconfig_secret": {"file": "kube.yaml"}}}},
        "notify_extra": {"pager": {"routing_key": {"env": "PAGER_ROUTING"}}},
    }
    redactor = Redactor()
    gs.register_config_secrets(raw, redactor, tmp_path, kind=providers.secret_kind)
    text = " ".join([*values.values(), "kube-tok3n-0123456789abcdef", "r3lay0123456789abcdef"])
    assert redactor(text) == " ".join([MASK] * (len(values) + 2))


def test_plain_values_written_as_env_are_neither_masked_nor_refused(
    providers: ProviderRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REG_HOST", "localhost:5000")
    monkeypatch.setenv("BUCKET", "logs")  # shorter than a secret may be: fine, it is no secret
    raw = {"upload": {"registry": {"registry": {"env": "REG_HOST"}}, "s3": {"bucket": {"env": "BUCKET"}}}}
    assert providers.secret_kind(("upload", "registry", "registry")) is False
    assert providers.secret_kind(("upload", "registry", "password")) is True
    redactor = Redactor()
    gs.register_config_secrets(raw, redactor, tmp_path, kind=providers.secret_kind)
    assert redactor("pushed localhost:5000/app to logs") == "pushed localhost:5000/app to logs"


def test_short_secret_of_an_unselected_stage_is_refused(
    providers: ProviderRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROD_KUBE", "kube")
    raw = {"deploy": {"environments": {"prod": {"kubeconfig_secret": {"env": "PROD_KUBE"}}}}}
    with pytest.raises(ConfigError) as err:
        gs.register_config_secrets(raw, Redactor(), tmp_path, kind=providers.secret_kind)
    assert err.value.key == "tool.gopipe.deploy.environments.prod.kubeconfig_secret"
    assert "environment variable PROD_KUBE is shorter than 6 characters" in err.value.message


def test_unset_secrets_fail_late(providers: ProviderRegistry, tmp_path: Path) -> None:
    raw = {"notify": {"webhook": {"url": {"env": "NOT_SET_ANYWHERE_0"}, "secret": {"file": "absent.txt"}}}}
    gs.register_config_secrets(raw, Redactor(), tmp_path, kind=providers.secret_kind)  # no error yet
    with pytest.raises(LookupError, match=r"absent\.txt does not exist"):
        Secret(file="absent.txt", base=tmp_path).reveal()


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "signing.pipe"
    os.mkfifo(path)
    yield path


def _unblock_fifo(path: Path) -> Callable[[], None]:
    """Open the FIFO for writing once, so a reader stuck on it (old code) gets EOF."""

    def unblock() -> None:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)

    return unblock


def _bad_file(kind: str, tmp_path: Path) -> Path:
    if kind == "fifo":
        path = tmp_path / "signing.pipe"
        os.mkfifo(path)
    elif kind == "directory":
        path = tmp_path / "signing.d"
        path.mkdir()
    elif kind == "socket":
        path = tmp_path / "s.sock"
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    else:  # larger than the 64 KiB bound
        path = tmp_path / "huge.txt"
        path.write_text("k" * (1 << 20))
    return path


@pytest.mark.parametrize("kind", ["fifo", "directory", "socket", "oversized"])
def test_secret_file_must_be_a_small_regular_file(kind: str, tmp_path: Path) -> None:
    path = _bad_file(kind, tmp_path)
    unblock = _unblock_fifo(path) if kind == "fifo" else (lambda: None)
    table = {"webhook": {"file": path.name}}
    with pytest.raises(ConfigError) as err:
        within(
            10,
            lambda: parse_options(
                HookOptions,
                table,
                file="pyproject.toml",
                key="tool.gopipe.notify.hook",
                base=tmp_path,
                redactor=Redactor(),
            ),
            unblock,
        )
    assert err.value.key == "tool.gopipe.notify.hook.webhook"
    assert path.name in err.value.message
    assert "regular file" in err.value.message or "larger than 64 KiB" in err.value.message


def test_endless_device_is_refused_without_reading_it(tmp_path: Path) -> None:
    """/dev/zero behind a symlink: refused by its type before a byte is read (only the new
    check is called here: the old code read it until memory ran out)."""
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(ConfigError) as err:
        within(10, lambda: Secret(file="zero", base=tmp_path).check("pyproject.toml", "tool.gopipe.x.token"))
    assert err.value.key == "tool.gopipe.x.token"
    assert "is not a regular file (a character device)" in err.value.message


def test_fifo_referenced_by_an_unselected_provider_does_not_hang(
    providers: ProviderRegistry, fifo: Path
) -> None:
    raw = {"notify": {"feishu": {"secret": {"file": fifo.name}}}}
    with pytest.raises(
        ConfigError,
        match=r"tool\.gopipe\.notify\.feishu\.secret: secret file .* is not a regular file \(a FIFO\)",
    ):
        within(
            10,
            lambda: gs.register_config_secrets(raw, Redactor(), fifo.parent, kind=providers.secret_kind),
            _unblock_fifo(fifo),
        )


def test_symlinked_secret_file_is_read(tmp_path: Path) -> None:
    """Kubernetes mounts secrets as symlinks into ..data/: those must keep working."""
    (tmp_path / "..data").mkdir()
    (tmp_path / "..data" / "token").write_text("mounted-t0ken-0123456789\n")
    (tmp_path / "token").symlink_to("..data/token")
    redactor = Redactor()
    opts = parse_options(
        HookOptions, {"webhook": {"file": "token"}}, file="p", key="k", base=tmp_path, redactor=redactor
    )
    assert opts.webhook.reveal() == "mounted-t0ken-0123456789"
    assert redactor("got mounted-t0ken-0123456789") == f"got {MASK}"
