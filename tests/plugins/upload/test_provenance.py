"""SLSA provenance for every binary, archive, checksum file and image, signed as DSSE with a
cosign key, and checked by the real ``cosign verify-blob-attestation``.

The module depends on golang.org/x/text, so the binary's statement lists a resolved module.
The key pair is made by ``cosign generate-key-pair``; gopipe reads it with the password from
``COSIGN_PASSWORD``, as cosign does.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.harness.cosign import CosignKey, cosign, generate_key

from gopipe.testing import RunResult, make_git_repo
from gopipe_plugins._common.provenance import BUILD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE

pytestmark = pytest.mark.slow  # Go builds and the cosign CLI

PASSWORD = "provenance-test-password-1"


@pytest.fixture
def key(tmp_path: Path) -> CosignKey:
    return generate_key(tmp_path / "keys", PASSWORD)


@pytest.fixture
def repo(tmp_path: Path, key: CosignKey) -> Path:
    repo = tmp_path / "app"
    (repo / "cmd" / "app").mkdir(parents=True)
    (repo / "go.mod").write_text("module example.com/app\n\ngo 1.24\n")
    (repo / "cmd" / "app" / "main.go").write_text(
        'package main\n\nimport (\n\t"fmt"\n\n\t"golang.org/x/text/language"\n)\n\n'
        "func main() { fmt.Println(language.English) }\n"
    )
    subprocess.run(["go", "get", "golang.org/x/text@v0.31.0"], cwd=repo, check=True, capture_output=True)
    (repo / "keys").mkdir()
    (repo / "keys" / "cosign.key").write_bytes(key.private.read_bytes())
    (repo / "pyproject.toml").write_text(
        '[tool.gopipe]\ntargets = ["linux/amd64"]\n'
        '[tool.gopipe.package]\nproviders = ["oci-image", "archive"]\n'
        '[tool.gopipe.upload]\nproviders = ["provenance"]\n'
        '[tool.gopipe.upload.provenance]\nkey = { file = "keys/cosign.key" }\n'
    )
    (repo / ".gitignore").write_text("keys/\n")
    return make_git_repo(repo)


def _verify(key: CosignKey, envelope: Path, blob: Path) -> None:
    res = cosign(
        "verify-blob-attestation",
        "--key",
        str(key.public),
        "--type",
        "slsaprovenance1",
        "--signature",
        str(envelope),
        "--insecure-ignore-tlog=true",
        str(blob),
    )
    assert res.returncode == 0 and "Verified OK" in res.stdout + res.stderr, res.stderr


def test_every_artifact_gets_signed_provenance_that_cosign_verifies(
    repo: Path, key: CosignKey, gopipe_run: Callable[..., RunResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
    result = gopipe_run(repo, "package", "upload")
    assert result.exit_code == 0, result.report
    assert result.stage("upload")["summary"] == "4 provenance statements, 4 signed"
    signed = {a["extra"]["of"]: a for a in result.report["artifacts"] if a["kind"] == "attestation"}
    assert set(signed) == {"binary", "archive", "checksums", "image"}
    by_kind = {a["kind"]: a for a in result.report["artifacts"]}
    config_sha = __import__("hashlib").sha256((repo / "pyproject.toml").read_bytes()).hexdigest()
    for kind, attestation in signed.items():
        envelope = repo / attestation["path"]
        if kind == "image":  # the index blob in the layout: its sha256 is the index digest
            digest = by_kind["image"]["extra"]["index_digest"].removeprefix("sha256:")
            blob = repo / by_kind["image"]["path"] / "blobs" / "sha256" / digest
        else:
            blob = repo / by_kind[kind]["path"]
        _verify(key, envelope, blob)
        statement = json.loads(base64.b64decode(json.loads(envelope.read_text())["payload"]))
        assert statement == json.loads((repo / attestation["path"].removesuffix("l")).read_text())
        assert (statement["_type"], statement["predicateType"]) == (STATEMENT_TYPE, PREDICATE_TYPE)
        build = statement["predicate"]["buildDefinition"]
        assert build["buildType"] == BUILD_TYPE
        assert build["externalParameters"]["config"] == {
            "path": "pyproject.toml",
            "digest": {"sha256": config_sha},
        }
        assert build["externalParameters"]["source"]["commit"] == result.report["git"]["sha"]
        details = statement["predicate"]["runDetails"]
        assert details["builder"] == {"id": "urn:gopipe:local", "version": {"gopipe": "0.1.0"}}
        assert details["metadata"]["startedOn"] <= details["metadata"]["finishedOn"]
        uris = [d["uri"] for d in build["resolvedDependencies"]]
        assert any(u.startswith("pkg:golang/std@go1.") for u in uris)
        if kind == "binary":
            text = next(
                d
                for d in build["resolvedDependencies"]
                if d["uri"].startswith("pkg:golang/golang.org/x/text@")
            )
            assert (
                text["uri"] == "pkg:golang/golang.org/x/text@v0.31.0" and len(text["digest"]["dirHash"]) == 64
            )
        if kind == "image":
            ca = next(d for d in build["resolvedDependencies"] if d.get("name") == "ca-certificates.crt")
            assert ca["digest"]["sha256"] == by_kind["image"]["extra"]["ca_bundle"]["sha256"]

    # Another key does not verify, and a changed file does not match its statement.
    other = generate_key(repo.parent / "other", "another-password-22")
    res = cosign(
        "verify-blob-attestation", "--key", str(other.public), "--type", "slsaprovenance1",
        "--signature", str(repo / signed["binary"]["path"]), "--insecure-ignore-tlog=true",
        str(repo / by_kind["binary"]["path"]),
    )  # fmt: skip
    assert res.returncode != 0
    tampered = repo.parent / "tampered"
    tampered.write_bytes((repo / by_kind["binary"]["path"]).read_bytes() + b"\0")
    res = cosign(
        "verify-blob-attestation", "--key", str(key.public), "--type", "slsaprovenance1",
        "--signature", str(repo / signed["binary"]["path"]), "--insecure-ignore-tlog=true", str(tampered),
    )  # fmt: skip
    assert res.returncode != 0


def test_a_wrong_password_is_a_config_error_that_never_shows_the_password(
    repo: Path, gopipe_run: Callable[..., RunResult], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("COSIGN_PASSWORD", "not-the-password-333")
    result = gopipe_run(repo, "package", "upload")
    assert result.exit_code == 2, result.report
    out = capsys.readouterr()
    assert "the password does not open the key" in out.out + out.err
    assert "not-the-password-333" not in out.out + out.err + json.dumps(result.report)
    assert not list((repo / "dist").glob("provenance/*.jsonl"))
