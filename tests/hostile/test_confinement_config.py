"""Confinement, config side: no config value or template makes gopipe touch anything outside
the repository (outputs: outside ``dist/``), and a typo is one line naming the key, exit 2.

Each case runs the real ``gopipe`` command in the sandbox (see ``conftest.py``), whose
``check`` also proves that nothing outside the repository, inside the sentinel, changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.hostile.conftest import Sandbox

pytestmark = pytest.mark.slow

TARGET = 'targets = ["linux/amd64"]\n'


def binaries(sandbox: Sandbox) -> list[Path]:
    """Files under dist/ other than gopipe's own records: what a build or package wrote."""
    dist = sandbox.repo / "dist"
    out = dist / "gopipe"
    return [p for p in dist.rglob("*") if p.is_file() and out not in p.parents] if dist.is_dir() else []


# -- build output ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "output",
    ["../../outside/x", "{name}/../../../outside/{name}", "ABSOLUTE", "escape/{name}", ""],
    ids=["parent", "template-parent", "absolute", "symlink-out", "dist-itself"],
)
def test_build_output_that_leaves_dist(sandbox: Sandbox, output: str) -> None:
    if output == "ABSOLUTE":
        output = str(sandbox.sentinel / "outside" / "abs" / "x")
    (sandbox.repo / "dist").mkdir(exist_ok=True)
    (sandbox.repo / "dist" / "escape").symlink_to(sandbox.sentinel / "outside")
    sandbox.config(TARGET + f'[tool.gopipe.build.go]\noutput = "{output}"\n')
    outcome = sandbox.run("run", "build", "--plain")
    sandbox.check(outcome, code=2, says="tool.gopipe.build.go.output")
    assert "leaves dist/" in outcome.output
    assert binaries(sandbox) == []


@pytest.mark.parametrize(
    ("key", "template", "says"),
    [
        ("ldflags", "-X main.version={verison}", "did you mean 'version'?"),
        ("ldflags", "-X main.version={0}", "positional field {0}"),
        ("ldflags", "-X main.version={version!x}", "unknown conversion !x"),
        ("output", "{name", "expected '}' before end of string"),
        ("output", "{name.__class__}", "unknown template variable {name.__class__}"),
    ],
    ids=["typo", "positional", "conversion", "unclosed", "attribute"],
)
def test_build_template_typo(sandbox: Sandbox, key: str, template: str, says: str) -> None:
    sandbox.config(TARGET + f'[tool.gopipe.build.go]\n{key} = "{template}"\n')
    outcome = sandbox.run("run", "build", "--plain")
    sandbox.check(outcome, code=2, says=f"tool.gopipe.build.go.{key}")
    assert says in outcome.output
    assert "{version}" in outcome.output and "{short_commit}" in outcome.output  # the known variables
    assert binaries(sandbox) == []


def test_main_package_outside_the_repository(sandbox: Sandbox) -> None:
    sandbox.config('targets = ["linux/amd64"]\nmain = ["../outside"]\n')
    outcome = sandbox.run("run", "build", "--plain")
    sandbox.check(outcome, code=2, says="tool.gopipe.main[0]")


# -- images ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../x", "../../../outside", "..", "../gopipe"])
def test_image_name_that_leaves_dist_oci_deletes_nothing(sandbox: Sandbox, name: str) -> None:
    """The layout writer replaces dist/oci/<name> wholesale: a name rendered to ``../..``
    must not replace (delete) a directory outside the repository, dist/ or dist/gopipe."""
    sandbox.config(
        TARGET + '[tool.gopipe.package]\nproviders = ["oci-image"]\n'
        f'[tool.gopipe.package.oci-image]\nname = "{name}"\nbinary_path = "/usr/local/bin/app"\n'
    )
    outcome = sandbox.run("run", "package", "--plain")
    sandbox.check(outcome, code=2, says="tool.gopipe.package.oci-image.name")
    assert "leaves dist/oci/" in outcome.output
    assert not (sandbox.repo / "x").exists()


# -- archives --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("files", "says"),
    [
        ('["../*"]', "files[0]"),
        ('["README*", "../keep.txt"]', "files[1]"),
        ('["/etc/passwd"]', "files[0]"),
        ('["docs/*"]', "files[0]"),  # docs is a symlink to the sentinel's outside/
        ('["NOTICE"]', "files[0]"),  # NOTICE is a symlink to the sentinel's keep.txt
    ],
    ids=["parent-glob", "parent-file", "absolute", "symlinked-dir", "symlinked-file"],
)
def test_archive_files_outside_the_repository(sandbox: Sandbox, files: str, says: str) -> None:
    (sandbox.repo / "README.md").write_text("hostile\n")
    (sandbox.repo / "docs").symlink_to(sandbox.sentinel / "outside" / "deep")
    (sandbox.repo / "NOTICE").symlink_to(sandbox.sentinel / "keep.txt")
    sandbox.config(
        TARGET + '[tool.gopipe.package]\nproviders = ["archive"]\n'
        f"[tool.gopipe.package.archive]\nfiles = {files}\n"
    )
    outcome = sandbox.run("run", "package", "--plain")
    sandbox.check(outcome, code=2, says=f"tool.gopipe.package.archive.{says}")
    assert not list((sandbox.repo / "dist").glob("*.tar.gz"))
    assert "sentinel keep.txt" not in sandbox.dist_text() and "sentinel etc/passwd" not in sandbox.dist_text()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("name_template", ".."),  # with wrap_in_directory: members would be ../hostile
        ("name_template", "../../../outside/x"),
        ("checksum_name", "../checksums.txt"),
        ("sbom_template", "{binary"),
    ],
    ids=["member-parent", "archive-parent", "checksums-parent", "sbom-typo"],
)
def test_archive_names_stay_plain_files_in_dist(sandbox: Sandbox, option: str, value: str) -> None:
    sandbox.config(
        TARGET + '[tool.gopipe.package]\nproviders = ["archive"]\n'
        f'[tool.gopipe.package.archive]\nwrap_in_directory = true\n{option} = "{value}"\n'
    )
    outcome = sandbox.run("run", "package", "--plain")
    sandbox.check(outcome, code=2, says=f"tool.gopipe.package.archive.{option}")
    assert not (sandbox.repo / "checksums.txt").exists()


# -- deploy ------------------------------------------------------------------------------------
DEPLOY = (
    TARGET
    + '[tool.gopipe.package]\nproviders = ["oci-image"]\n'
    + '[tool.gopipe.upload]\nproviders = ["registry"]\n'
    + '[tool.gopipe.upload.registry]\nregistry = "127.0.0.1:9"\ninsecure = true\n'
    + '[tool.gopipe.deploy]\nproviders = ["kubectl"]\n'
)


def test_environment_named_like_a_path(sandbox: Sandbox) -> None:
    """Its name would be dist/gopipe/deploy/<name> (the dry run's rendered objects)."""
    sandbox.config(DEPLOY + '[tool.gopipe.deploy.environments."../../../outside/x"]\nnamespace = "n"\n')
    outcome = sandbox.run("run", "deploy", "--env", "../../../outside/x", "--dry-run", "--plain")
    sandbox.check(outcome, code=2, says="tool.gopipe.deploy.environments.../../../outside/x")
    assert "not a plain name" in outcome.output
    assert binaries(sandbox) == []  # stopped before any stage ran


@pytest.mark.parametrize(
    ("option", "value"),
    [("kubeconfig", "../keep.txt"), ("manifests", "/etc")],
    ids=["kubeconfig", "manifests"],
)
def test_environment_files_outside_the_repository(sandbox: Sandbox, option: str, value: str) -> None:
    sandbox.config(DEPLOY + f'[tool.gopipe.deploy.environments.staging]\n{option} = "{value}"\n')
    outcome = sandbox.run("run", "deploy", "--env", "staging", "--dry-run", "--plain")
    sandbox.check(outcome, code=2, says=f"tool.gopipe.deploy.environments.staging.{option}")
    assert binaries(sandbox) == []


def test_unknown_env_is_refused_before_any_stage_runs(sandbox: Sandbox) -> None:
    sandbox.config(
        DEPLOY
        + '[tool.gopipe.deploy.environments.staging]\nnamespace = "s"\n'
        + '[tool.gopipe.deploy.environments.production]\nnamespace = "p"\n'
    )
    outcome = sandbox.run("run", "cd", "--env", "stagign", "--plain")
    sandbox.check(outcome, code=2, says="--env")
    assert "did you mean 'staging'?" in outcome.output and "production" in outcome.output
    assert binaries(sandbox) == []  # build, package and upload did not run
    assert outcome.report is not None and outcome.report["stages"] == []


def test_env_without_environments_is_refused_before_any_stage_runs(sandbox: Sandbox) -> None:
    sandbox.config(TARGET)
    outcome = sandbox.run("run", "build", "--env", "production", "--plain")
    sandbox.check(outcome, code=2, says="none are configured")
    assert binaries(sandbox) == []


# -- notify ------------------------------------------------------------------------------------
@pytest.mark.parametrize("template_file", ["/etc/passwd", "../keep.txt", "../etc/passwd", "escape"], ids=str)
def test_notify_template_file_is_read_only_in_the_repository(sandbox: Sandbox, template_file: str) -> None:
    (sandbox.repo / "escape").symlink_to(sandbox.sentinel / "keep.txt")
    sandbox.config(
        TARGET + '[tool.gopipe.notify]\nproviders = ["webhook"]\n'
        '[tool.gopipe.notify.webhook]\nurl = { env = "HOSTILE_WEBHOOK" }\n'
        f'template_file = "{template_file}"\n'
    )
    outcome = sandbox.run("run", "notify", "--plain", env={"HOSTILE_WEBHOOK": "http://127.0.0.1:9/hook"})
    sandbox.check(outcome, code=2, says="tool.gopipe.notify.webhook.template_file")
    assert "leaves the repository" in outcome.output
    written = outcome.output + sandbox.dist_text()
    assert "sentinel keep.txt" not in written and "root:" not in written


# -- gopipe's own directory ----------------------------------------------------------------------
def test_dist_gopipe_symlinked_out_of_the_repository(sandbox: Sandbox) -> None:
    """A checkout whose dist/gopipe is a symlink: the report, lock and logs would land outside."""
    (sandbox.repo / "dist").mkdir()
    (sandbox.repo / "dist" / "gopipe").symlink_to(sandbox.sentinel / "outside")
    outcome = sandbox.run("run", "build", "--plain")
    sandbox.check(outcome, code=2, report=False, says="tool.gopipe.dist")


# -- Dockerfile builds ---------------------------------------------------------------------------
DOCKER = (
    TARGET
    + '[tool.gopipe.package]\nproviders = ["docker"]\n'
    + '[tool.gopipe.package.docker]\nexecutable = "false"\n'
)


@pytest.mark.parametrize(
    ("option", "value"),
    [("dockerfile", '"../keep.txt"'), ("context", '"../outside"'), ("extra_files", '["../keep.txt"]')],
    ids=["dockerfile", "context", "extra-files"],
)
def test_docker_build_reads_only_the_repository(sandbox: Sandbox, option: str, value: str) -> None:
    (sandbox.repo / "Dockerfile").write_text("FROM scratch\nCOPY hostile /hostile\n")
    sandbox.config(DOCKER + f"{option} = {value}\n")
    outcome = sandbox.run("run", "package", "--plain")
    sandbox.check(outcome, code=2, says=f"tool.gopipe.package.docker.{option}")
    assert "sentinel keep.txt" not in sandbox.dist_text()


def test_docker_context_replaces_a_planted_symlink_without_following_it(sandbox: Sandbox) -> None:
    """dist/gopipe/docker/<platform> is rebuilt every run: a symlink there is removed, and
    nothing is copied or deleted through it."""
    (sandbox.repo / "Dockerfile").write_text("FROM scratch\nCOPY hostile /hostile\n")
    owned = sandbox.repo / "dist" / "gopipe" / "docker"
    owned.mkdir(parents=True)
    (owned / "linux-amd64").symlink_to(sandbox.sentinel / "outside")
    sandbox.config(DOCKER)
    outcome = sandbox.run("run", "package", "--plain")
    sandbox.check(outcome, code=1, says="docker build for linux/amd64 failed")  # `false` builds nothing
    context = owned / "linux-amd64"
    assert context.is_dir() and not context.is_symlink()
    assert (context / "hostile").is_file()
