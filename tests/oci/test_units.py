"""Pure-Python pieces: references, platforms, challenges, Docker config, retry policy."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import pytest

from gopipe_oci import (
    AuthError,
    Credentials,
    Platform,
    Reference,
    RegistryClient,
    RetryExhaustedError,
    RetryPolicy,
    load_docker_credentials,
)
from gopipe_oci.auth import parse_challenge
from gopipe_oci.transport import TransientError

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5000/acme/app:v1", ("127.0.0.1:5000", "acme/app", "v1", "")),
        ("127.0.0.1:5000/acme/app", ("127.0.0.1:5000", "acme/app", "latest", "")),
        ("localhost/app", ("localhost", "app", "latest", "")),
        ("ghcr.io/o/r@" + DIGEST, ("ghcr.io", "o/r", "", DIGEST)),
        ("ghcr.io/o/r:1.0@" + DIGEST, ("ghcr.io", "o/r", "1.0", DIGEST)),
        ("ubuntu", ("registry-1.docker.io", "library/ubuntu", "latest", "")),
        ("grafana/loki:3", ("registry-1.docker.io", "grafana/loki", "3", "")),
    ],
)
def test_reference_parse(text: str, expected: tuple[str, str, str, str]) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == expected
    assert ref.identifier == (expected[3] or expected[2])


@pytest.mark.parametrize("bad", ["host/UPPER:tag", "host/repo:bad tag", "host/r@sha256:short"])
def test_reference_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        Reference.parse(bad)


def test_reference_without_default_tag() -> None:
    assert Reference.parse("h:1/a/b", default_tag="").tag == ""


def test_platforms() -> None:
    arm = Platform.parse("linux/arm/v7")
    assert (arm.os, arm.architecture, arm.variant, str(arm)) == ("linux", "arm", "v7", "linux/arm/v7")
    assert arm.to_json() == {"architecture": "arm", "os": "linux", "variant": "v7"}
    assert Platform.parse("linux/arm64").matches(Platform("linux", "arm64", "v8"))
    assert not Platform.parse("linux/arm/v7").matches(Platform("linux", "arm", "v6"))
    assert Platform.parse("linux/arm").matches(Platform("linux", "arm", "v6"))
    assert sorted([Platform.parse("linux/arm64"), Platform.parse("linux/amd64")])[0].architecture == "amd64"
    for bad in ("amd64", "linux/", "a/b/c/d"):
        with pytest.raises(ValueError):
            Platform.parse(bad)


def test_parse_challenge() -> None:
    ch = parse_challenge(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:acme/app:pull,push"'
    )
    assert ch.scheme == "bearer"
    assert ch.params == {
        "realm": "https://auth.example.com/token",
        "service": "registry.example.com",
        "scope": "repository:acme/app:pull,push",
    }
    assert parse_challenge('Basic realm="gopipe-test"').params == {"realm": "gopipe-test"}
    assert parse_challenge("Basic realm=unquoted").params == {"realm": "unquoted"}


def test_credentials_repr_hides_password() -> None:
    creds = Credentials("bob", "s3cret-value")
    assert "s3cret-value" not in repr(creds)
    assert creds.basic() == "Basic " + base64.b64encode(b"bob:s3cret-value").decode()


def test_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config.json"
    auth = base64.b64encode(b"alice:pa:ss").decode()
    cfg.write_text(
        json.dumps(
            {
                "auths": {
                    "reg.example.com": {"auth": auth},
                    "https://other.example.com": {"username": "carol", "password": "pw"},
                    "https://index.docker.io/v1/": {"auth": base64.b64encode(b"d:h").decode()},
                    "broken.example.com": {"auth": "!!!notbase64"},
                },
                "credHelpers": {"gcr.io": "gcloud"},
            }
        )
    )
    assert load_docker_credentials("reg.example.com", cfg) == Credentials("alice", "pa:ss")
    assert load_docker_credentials("other.example.com", cfg) == Credentials("carol", "pw")
    assert load_docker_credentials("registry-1.docker.io", cfg) == Credentials("d", "h")
    assert load_docker_credentials("gcr.io", cfg) is None  # helpers are not run
    assert load_docker_credentials("nowhere.example.com", cfg) is None
    with pytest.raises(AuthError, match="malformed") as err:
        load_docker_credentials("broken.example.com", cfg)
    assert "notbase64" not in str(err.value)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert load_docker_credentials("reg.example.com") == Credentials("alice", "pa:ss")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "missing"))
    assert load_docker_credentials("reg.example.com") is None


def test_retry_policy_delays() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=0.5)
    rng = random.Random(1)
    for retry, full in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        for _ in range(20):
            d = policy.delay(retry, rng)
            assert full * 0.5 <= d <= full
    assert policy.delay(1, rng, retry_after=5.0) >= 5.0
    assert policy.delay(1, rng, retry_after=500.0) <= 8.0
    no_jitter = RetryPolicy(base_delay=0.5, jitter=0.0)
    assert [no_jitter.delay(n, rng) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


def test_retry_policy_gives_up_on_attempts_or_budget() -> None:
    policy = RetryPolicy(max_attempts=3, budget=4)
    assert policy.gives_up(1, 0) is None and policy.gives_up(2, 3) is None
    assert policy.gives_up(3, 0) == "3 attempts failed"
    assert policy.gives_up(1, 4) == "retry budget exhausted"  # the budget is checked first
    assert RetryPolicy(max_attempts=1).gives_up(1, 0) == "1 attempt failed"


@pytest.mark.parametrize(
    "bad",
    [{"max_attempts": 0}, {"budget": -1}, {"base_delay": -0.1}, {"max_delay": -1.0}, {"jitter": 1.5}],
)
def test_retry_policy_refuses_values_out_of_range(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**bad)


def _client(policy: RetryPolicy, sleeps: list[float]) -> RegistryClient:
    return RegistryClient(
        "127.0.0.1:1",
        use_docker_config=False,
        retry=policy,
        sleep=sleeps.append,
        rng=random.Random(0),
    )


def test_with_retry_recovers_and_backs_off() -> None:
    sleeps: list[float] = []
    client = _client(RetryPolicy(max_attempts=5, base_delay=0.1, jitter=0.0), sleeps)
    failures = [TransientError("HTTP 503", 503), TransientError("connection failed (reset)")]

    def op() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    assert client._with_retry("upload of blob X", op) == "ok"
    assert sleeps == [0.1, 0.2]
    assert client.retries == 2


def test_with_retry_exhaustion_names_operation_and_status() -> None:
    sleeps: list[float] = []
    client = _client(RetryPolicy(max_attempts=3, budget=100, base_delay=0.01), sleeps)

    def op() -> None:
        raise TransientError("HTTP 502: UNAVAILABLE", 502)

    with pytest.raises(RetryExhaustedError) as err:
        client._with_retry("upload of blob sha256:abc to r/x", op)
    assert str(err.value) == (
        "upload of blob sha256:abc to r/x: giving up, 3 attempts failed; last error: HTTP 502: UNAVAILABLE"
    )
    assert (err.value.status, err.value.attempts, len(sleeps)) == (502, 3, 2)


def test_retry_budget_is_shared_across_operations() -> None:
    sleeps: list[float] = []
    client = _client(RetryPolicy(max_attempts=10, budget=3, base_delay=0.01), sleeps)
    calls = {"n": 0}

    def flaky() -> None:
        calls["n"] += 1
        if calls["n"] % 2:
            raise TransientError("HTTP 500", 500)

    client._with_retry("a", flaky)
    client._with_retry("b", flaky)
    client._with_retry("c", flaky)
    with pytest.raises(RetryExhaustedError, match="retry budget exhausted"):
        client._with_retry("d", flaky)
