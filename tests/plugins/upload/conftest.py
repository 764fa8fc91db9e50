"""Fixtures for the upload tests: a copy of examples/hello set up for ``cd``, and helpers.

Every test runs the real pipeline in-process (``gopipe run``): go build, the ``oci-image``
packager, then the uploaders against real services (docker-registry, moto, a Harbor API
stand-in). Targets are narrowed to linux/amd64 + linux/arm64 to keep the builds short.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.harness import procs
from tests.harness.registry import Registry
from tests.plugins.upload.services import start_users_registry

from gopipe.testing import RunResult, toml_dumps

ROBOT = "robot$hello+gopipe"
ECR_USER = "AWS"
ECR_PASSWORD = "123456789012-auth-token"  # what moto's GetAuthorizationToken hands out


@pytest.fixture
def cd_repo(hello_repo: Path) -> Path:
    """examples/hello (its own [tool.gopipe.package]/[tool.gopipe.upload] tables), tagged v1.2.3,
    built for two linux targets only."""
    pyproject = hello_repo / "pyproject.toml"
    text = pyproject.read_text().replace(
        'targets = ["linux/amd64", "linux/arm64", "darwin/arm64", "windows/amd64"]',
        'targets = ["linux/amd64", "linux/arm64"]',
    )
    assert 'targets = ["linux/amd64", "linux/arm64"]' in text
    pyproject.write_text(text)
    git(hello_repo, "commit", "-q", "-am", "two targets")
    git(hello_repo, "tag", "v1.2.3")
    return hello_repo


def git(repo: Path, *args: str) -> None:
    env = {
        "GIT_AUTHOR_NAME": "gopipe",
        "GIT_AUTHOR_EMAIL": "ci@example.com",
        "GIT_COMMITTER_NAME": "gopipe",
        "GIT_COMMITTER_EMAIL": "ci@example.com",
        "GIT_AUTHOR_DATE": "2026-01-03T03:04:05Z",
        "GIT_COMMITTER_DATE": "2026-01-03T03:04:05Z",
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    subprocess.run(["git", *args], cwd=repo, check=True, env=env)


def set_tables(
    repo: Path,
    package: dict[str, Any] | None = None,
    upload: dict[str, Any] | None = None,
    commit: bool = True,
) -> None:
    """Replace the example's [tool.gopipe.package]/[tool.gopipe.upload] tables."""
    pyproject = repo / "pyproject.toml"
    text = pyproject.read_text()
    cut = text.find("\n# CD:")
    if cut == -1:
        cut = text.find("\n[tool.gopipe.package]")
    base = text[:cut] if cut != -1 else text
    tables: dict[str, Any] = {}
    if package is not None:
        tables["package"] = package
    if upload is not None:
        tables["upload"] = upload
    pyproject.write_text(base.rstrip("\n") + "\n" + toml_dumps(tables, "tool.gopipe."))
    if commit:
        git(repo, "commit", "-q", "-am", "cd config")
        git(repo, "tag", "-f", "v1.2.3")


def env_ref(name: str) -> dict[str, str]:
    return {"env": name}


def registry_table(prefix: str = "REG") -> dict[str, Any]:
    """Upload options that read the registry from ``{prefix}_*`` environment variables."""
    return {
        "registry": env_ref(f"{prefix}_HOST"),
        "username": env_ref(f"{prefix}_USER"),
        "password": env_ref(f"{prefix}_PASSWORD"),
        "ca_file": env_ref(f"{prefix}_CA"),
    }


def registry_env(reg: Registry, prefix: str = "REG") -> dict[str, str]:
    env = {f"{prefix}_HOST": reg.host}
    if reg.username is not None and reg.password is not None:
        env[f"{prefix}_USER"] = reg.username
        env[f"{prefix}_PASSWORD"] = reg.password
    env[f"{prefix}_CA"] = str(reg.ca_cert) if reg.ca_cert else ""
    return env


def artifacts(result: RunResult, kind: str) -> list[dict[str, Any]]:
    return [a for a in result.report.get("artifacts", []) if a["kind"] == kind]


def unique_repo(label: str) -> str:
    """A repository template no other test pushes to (blobs are per repository)."""
    return f"{label}-{secrets.token_hex(4)}/{{name}}"


def outputs(repo: Path, stdout: str) -> dict[str, str]:
    """Everything a run leaves for people and tools: console, report, events, stage logs."""
    out = {"stdout": stdout}
    gp = repo / "dist" / "gopipe"
    for path in [gp / "report.json", gp / "events.jsonl", *sorted((gp / "logs").glob("*.log"))]:
        if path.is_file():
            out[str(path.relative_to(repo))] = path.read_text(errors="replace")
    return out


def assert_not_leaked(repo: Path, stdout: str, *values: str) -> None:
    for name, text in outputs(repo, stdout).items():
        for value in values:
            assert value not in text, f"secret leaked into {name}"


@dataclass(frozen=True)
class UsersRegistry:
    """A registry and every user it accepts."""

    registry: Registry
    users: dict[str, str]

    @property
    def host(self) -> str:
        return self.registry.host

    def as_user(self, user: str) -> Registry:
        """The same registry, described with another user's credentials."""
        reg = self.registry
        return Registry(reg.host, user, self.users[user], reg.ca_cert, reg.root)


@pytest.fixture(scope="session")
def users_registry() -> Iterator[UsersRegistry]:
    """TLS + htpasswd registry accepting gopipe/<random>, the Harbor robot and moto's ECR login."""
    tmp = Path(tempfile.mkdtemp(prefix="gopipe-upload-registry-"))
    users = {"gopipe": secrets.token_urlsafe(18), ROBOT: secrets.token_urlsafe(18), ECR_USER: ECR_PASSWORD}
    try:
        with start_users_registry(tmp, users) as reg:
            yield UsersRegistry(reg, users)
    finally:
        procs.rmtree(tmp)


def report_json(repo: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((repo / "dist" / "gopipe" / "report.json").read_text())
    return data


RunFn = Callable[..., RunResult]
