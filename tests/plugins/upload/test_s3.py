"""``s3`` uploader against a real moto S3 server (endpoint as for MinIO-compatible stores).

The archives, checksums and SBOMs come from the real ``archive`` packager.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from tests.harness.moto_server import Moto
from tests.plugins.upload.conftest import RunFn, artifacts, env_ref, set_tables

pytestmark = pytest.mark.slow


def test_s3_uploads_archives_and_checksums_once(
    cd_repo: Path,
    moto: Moto,
    gopipe_run: RunFn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in moto.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("RELEASE_BUCKET", "releases-once")
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="releases-once")
    set_tables(
        cd_repo,
        {"providers": ["archive"]},
        {"providers": ["s3"], "s3": {"bucket": env_ref("RELEASE_BUCKET"), "endpoint_url": moto.endpoint_url}},
    )
    first = gopipe_run(cd_repo, "upload")
    out = capsys.readouterr().out
    assert first.exit_code == 0, out
    objects = {a["extra"]["key"]: a for a in artifacts(first, "s3-object")}
    expected = {
        f"hello/1.2.3/{Path(a['path']).name}"
        for a in first.report["artifacts"]
        if a["kind"] in ("archive", "checksums")
    }
    assert set(objects) == expected and len(expected) == 3  # 2 archives + checksums.txt
    for key, art in objects.items():
        body = s3.get_object(Bucket="releases-once", Key=key)
        data = body["Body"].read()
        assert hashlib.sha256(data).hexdigest() == art["sha256"] == body["Metadata"]["sha256"]
        assert (cd_repo / "dist" / Path(key).name).read_bytes() == data
        assert art["extra"]["uploaded"] is True

    again = gopipe_run(cd_repo, "upload")
    capsys.readouterr()
    assert again.exit_code == 0
    assert all(a["extra"]["uploaded"] is False for a in artifacts(again, "s3-object"))
    assert (
        "3 files to s3://releases-once/hello/1.2.3/ (0 uploaded, 3 unchanged)"
        in again.stage("upload")["summary"]
    )


def test_s3_refuses_to_replace_different_content_without_overwrite(
    cd_repo: Path,
    moto: Moto,
    gopipe_run: RunFn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in moto.env().items():
        monkeypatch.setenv(key, value)
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="releases-fixed")
    s3.put_object(Bucket="releases-fixed", Key="hello/1.2.3/checksums.txt", Body=b"something else\n")
    set_tables(
        cd_repo,
        {"providers": ["archive"]},
        {"providers": ["s3"], "s3": {"bucket": "releases-fixed", "overwrite": False}},
    )
    result = gopipe_run(cd_repo, "upload")
    capsys.readouterr()
    assert result.exit_code == 1
    assert (
        "s3://releases-fixed/hello/1.2.3/checksums.txt exists with other content and "
        "overwrite = false" in result.stage("upload")["error"]
    )
