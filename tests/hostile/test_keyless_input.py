"""Hostile input to keyless signing (``[tool.gopipe.upload.sign] mode = "keyless"``).

Each case runs the real ``gopipe`` command in the sandbox (see ``conftest.py``). Sigstore and
GitHub's token service cannot be reached from here: the token service and Fulcio are the
local ones of ``tests/harness/sigstore_endpoints.py`` (the documented protocols), reached
through the job's variables and a trust-config file, so every case stops at or before the
Fulcio request. Promises: a usage error is exit 2 naming the key; a failure reaching Sigstore
is exit 1 with one line; both tokens stay masked; a report is written; nothing outside the
repository is touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from tests.harness.sigstore_endpoints import (
    FULCIO_PATH,
    HOOK_PATH,
    TOKEN_PATH,
    Reply,
    SigstoreEndpoints,
    sigstore_endpoints,
    trust_config_json,
)
from tests.hostile.conftest import Outcome, Sandbox

pytestmark = pytest.mark.slow  # each case builds and archives the Go module first

REQUEST_TOKEN = "hostile-request-token-4d1f8a2b9c7e3f50"
WORKFLOW_REF = "octo/hostile/.github/workflows/gopipe-cd.yml@refs/heads/main"
KEY = "tool.gopipe.upload.sign"
BASE = (
    'targets = ["linux/amd64"]\n[tool.gopipe.package]\nproviders = ["archive"]\n'
    '[tool.gopipe.upload]\nproviders = ["sign"]\n[tool.gopipe.upload.sign]\n'
    'mode = "keyless"\nimages = false\n'
)


@pytest.fixture
def endpoints() -> Iterator[SigstoreEndpoints]:
    with sigstore_endpoints(REQUEST_TOKEN, WORKFLOW_REF) as server:
        yield server


def _in_actions(server: SigstoreEndpoints, **extra: str) -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        "ACTIONS_ID_TOKEN_REQUEST_URL": server.token_url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
        "GITHUB_WORKFLOW_REF": WORKFLOW_REF,
        "GITHUB_SERVER_URL": "https://github.com",
        **extra,
    }


def _with_trust(sandbox: Sandbox, server: SigstoreEndpoints, body: str = "") -> None:
    (sandbox.repo / "trust.json").write_text(trust_config_json(server.url, server.url))
    sandbox.config(BASE + 'trust_config = "trust.json"\n' + body)


def _run(sandbox: Sandbox, env: dict[str, str]) -> Outcome:
    return sandbox.run("run", "package", "upload", "--plain", env=env)


def _without_masks(outcome: Outcome) -> Outcome:
    """The output minus the ``::add-mask::`` commands gopipe sends the runner in Actions
    (how Actions learns a secret: the runner masks them, they are never shown)."""
    keep = [line for line in outcome.stdout.splitlines() if not line.startswith("::add-mask::")]
    return Outcome(outcome.code, "\n".join(keep), outcome.stderr, outcome.report)


def test_outside_actions_keyless_is_a_usage_error(sandbox: Sandbox) -> None:
    sandbox.config(BASE)
    outcome = _run(sandbox, {})
    sandbox.check(outcome, code=2, says="keyless signing needs id-token: write")
    assert f"{KEY}.mode" in outcome.output


def test_a_job_without_id_token_permission_is_a_usage_error(sandbox: Sandbox) -> None:
    sandbox.config(BASE)
    outcome = _run(sandbox, {"GITHUB_ACTIONS": "true"})
    says = "ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN not set in this job"
    sandbox.check(outcome, code=2, says=says)


def test_signing_stops_at_fulcio_with_one_masked_line(sandbox: Sandbox, endpoints: SigstoreEndpoints) -> None:
    """The whole provider up to Sigstore: token fetched, Fulcio asked, its refusal one line."""
    hook = (
        '[tool.gopipe.notify]\nproviders = ["webhook"]\n'
        '[tool.gopipe.notify.webhook]\nurl = { env = "HOOK" }\n'
    )
    _with_trust(sandbox, endpoints, hook)
    env = _in_actions(endpoints, HOOK=endpoints.url + HOOK_PATH)
    outcome = _without_masks(_run(sandbox, env))
    (issued,) = endpoints.issued
    sandbox.check(outcome, code=1, says="no signing certificate from Fulcio", secrets=[REQUEST_TOKEN, issued])
    (request,) = endpoints.seen(FULCIO_PATH)
    assert request.headers["authorization"] == f"Bearer {issued}"
    assert outcome.report is not None
    stages = {s["name"]: s for s in outcome.report["stages"]}
    assert stages["upload"]["status"] == "failed"
    (notified,) = endpoints.seen(HOOK_PATH)  # the notification still goes out, masked
    assert b"no signing certificate from Fulcio" in notified.body
    assert REQUEST_TOKEN.encode() not in notified.body and issued.encode() not in notified.body


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        (Reply(200, b"<html>not json</html>"), "malformed or incomplete JSON"),
        (Reply(200, json.dumps({"value": 42}).encode()), "malformed or incomplete JSON"),
        (Reply(200, json.dumps({"value": "not.a.jwt"}).encode()), "no OIDC token from"),
        (Reply(500, b"A" * 8_000_000), "OIDC token request failed"),
        (Reply(401, f"bad token {REQUEST_TOKEN}".encode()), "code=401"),
    ],
    ids=["html", "value-not-a-string", "not-a-jwt", "huge-error-body", "echoes-the-token"],
)
def test_a_bad_token_service_answer_is_one_masked_line(
    sandbox: Sandbox, endpoints: SigstoreEndpoints, reply: Reply, says: str
) -> None:
    _with_trust(sandbox, endpoints)
    endpoints.fault(TOKEN_PATH, reply)
    outcome = _without_masks(_run(sandbox, _in_actions(endpoints)))
    sandbox.check(outcome, code=1, says=says, secrets=[REQUEST_TOKEN])
    assert len(outcome.output) < 50_000  # the huge body is cut, not echoed
    assert not endpoints.seen(FULCIO_PATH)


def test_a_redirect_to_another_host_never_gets_the_request_token(
    sandbox: Sandbox, endpoints: SigstoreEndpoints
) -> None:
    with sigstore_endpoints("another-hosts-token-000000000000", WORKFLOW_REF) as other:
        endpoints.fault(
            TOKEN_PATH, Reply(302, b"", {"Location": f"{other.url}{TOKEN_PATH}?audience=sigstore"})
        )
        _with_trust(sandbox, endpoints)
        outcome = _without_masks(_run(sandbox, _in_actions(endpoints)))
        (followed,) = other.seen(TOKEN_PATH)
    assert "authorization" not in followed.headers  # stripped on a cross-host redirect
    sandbox.check(outcome, code=1, says="code=401", secrets=[REQUEST_TOKEN])


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('issuer = "http://token.actions.githubusercontent.com"\n', f"{KEY}.issuer: 'http://"),
        ('issuer = "https://evil.example/\\u001b[31m"\n', f"{KEY}.issuer:"),
        ('identity = "octo/hostile/.github/workflows/gopipe-cd.yml"\n', f"{KEY}.identity:"),
        ('identity = "https://github.com/o/r/.github/workflows/x.yml"\n', "is not a workflow@ref URL"),
        ('identity = "https://a/b@c d$(touch ../pwned)"\n', f"{KEY}.identity:"),
        ("identity = 7\n", f"{KEY}.identity: expected string"),
        ('sigstore = "prod"\n', f"{KEY}.sigstore"),
        ('trust_config = "../../outside/trust.json"\n', f"{KEY}.trust_config"),
        ('trust_config = "missing.json"\n', "missing.json: no such file"),
        ('key = { env = "COSIGN_KEY_X" }\n', 'a key is set but mode = "keyless" signs without one'),
    ],
    ids=[
        "http-issuer",
        "control-chars",
        "identity-not-url",
        "identity-no-ref",
        "identity-shell",
        "identity-number",
        "unknown-instance",
        "trust-outside",
        "trust-missing",
        "key-and-keyless",
    ],
)
def test_malformed_keyless_options_are_config_errors(sandbox: Sandbox, body: str, says: str) -> None:
    sandbox.config(BASE + body)
    outcome = _run(sandbox, {"COSIGN_KEY_X": "irrelevant-key-text-0000"})
    sandbox.check(outcome, code=2, says=says)
    assert not (sandbox.sentinel / "pwned").exists()
    assert outcome.report is not None
    if "trust_config" not in body:  # the preflight: refused before anything is built
        assert not [a for a in outcome.report["artifacts"] if a["kind"] == "binary"]


def test_a_trust_config_symlink_out_of_the_repository_is_refused(sandbox: Sandbox) -> None:
    """A trust root decides whom signing trusts: it is read only from inside the repository."""
    outside = sandbox.sentinel / "outside" / "trust.json"
    outside.write_text('{"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"}')
    (sandbox.repo / "trust.json").symlink_to(outside)
    sandbox.before = sandbox.snapshot()  # the planted file is part of what must survive
    sandbox.config(BASE + 'trust_config = "trust.json"\n')
    outcome = _run(sandbox, {})
    sandbox.check(outcome, code=2, says=f"{KEY}.trust_config")


def test_an_unknown_mode_is_a_config_error(sandbox: Sandbox) -> None:
    sandbox.config(BASE.replace('mode = "keyless"', 'mode = "keyles"'))
    outcome = _run(sandbox, {})
    sandbox.check(outcome, code=2, says=f"{KEY}.mode")


def test_signing_as_another_identity_is_refused_before_any_request(
    sandbox: Sandbox, endpoints: SigstoreEndpoints
) -> None:
    other = "https://github.com/octo/hostile/.github/workflows/release.yml@refs/tags/v1.0.0"
    _with_trust(sandbox, endpoints, f'identity = "{other}"\n')
    outcome = _without_masks(_run(sandbox, _in_actions(endpoints)))
    sandbox.check(outcome, code=2, says=f"not {other}", secrets=[REQUEST_TOKEN])
    assert not endpoints.requests
