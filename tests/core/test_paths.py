"""Confinement helpers: paths from config, templates and other runs' outputs stay where they belong."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.core.run_context import make_run, provider_context

from gopipe.artifacts import Artifact
from gopipe.errors import ConfigError
from gopipe.paths import artifact_file, inside, member_name, output_path, remove_owned
from gopipe.templates import render_template
from gopipe.types import NoOptions


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """``<tmp>/repo`` with ``dist/`` and a file outside the repository."""
    root = tmp_path / "repo"
    (root / "dist").mkdir(parents=True)
    (root / "src").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "keep.txt").write_text("keep\n")
    return root, tmp_path / "outside"


def test_inside_accepts_paths_in_the_repository(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    assert inside(root, "src/x.go", file="f", key="k") == root.resolve() / "src" / "x.go"
    assert inside(root, "src/../dist", file="f", key="k") == root.resolve() / "dist"
    assert inside(root, ".", file="f", key="k") == root.resolve()  # reading the repository itself
    with pytest.raises(ConfigError):
        inside(root, ".", file="f", key="k", strict=True)


@pytest.mark.parametrize("value", ["../outside/keep.txt", "src/../../outside", "/etc/passwd", "..", "a\0b"])
def test_inside_refuses_what_leaves(tree: tuple[Path, Path], value: str) -> None:
    root, _ = tree
    with pytest.raises(ConfigError) as err:
        inside(root, value, file="pyproject.toml", key="tool.gopipe.x.y.z")
    assert err.value.file == "pyproject.toml" and err.value.key == "tool.gopipe.x.y.z"
    assert err.value.exit_code == 2


def test_inside_follows_symlinks(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "src" / "escape").symlink_to(outside)
    (root / "src" / "local").symlink_to(root / "dist")
    with pytest.raises(ConfigError, match="leaves the repository"):
        inside(root, "src/escape/keep.txt", file="f", key="k")
    assert inside(root, "src/local/x", file="f", key="k") == root.resolve() / "dist" / "x"


def test_output_path_stays_strictly_below_dist(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    dist = root / "dist"
    assert output_path(root, dist, "a/b", file="f", key="k") == dist.resolve() / "a" / "b"
    assert output_path(root, dist, "x", file="f", key="k", under="oci") == dist.resolve() / "oci" / "x"
    for bad in ("", ".", "..", "../src/x", "/tmp/x", str(outside / "x")):
        with pytest.raises(ConfigError, match="leaves dist/"):
            output_path(root, dist, bad, file="f", key="k")
    for bad in ("..", ".", "../gopipe", "a/../../x"):  # dist/oci/<name> may not be dist/oci or climb
        with pytest.raises(ConfigError, match="leaves dist/oci/"):
            output_path(root, dist, bad, file="f", key="k", under="oci")
    (dist / "escape").symlink_to(outside)
    with pytest.raises(ConfigError):
        output_path(root, dist, "escape/x", file="f", key="k")
    with pytest.raises(ConfigError):  # the subdirectory itself is a symlink out of dist
        output_path(root, dist, "x", file="f", key="k", under="escape")


def test_member_names_never_escape() -> None:
    assert member_name("pkg_1.0/README.md") == "pkg_1.0/README.md"
    for bad in ("", "../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/", "C:x", "a\\..\\b", "x\0"):
        with pytest.raises(ValueError, match="unsafe archive member"):
            member_name(bad)


def test_remove_owned_deletes_only_inside_and_never_follows(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    owned = root / "dist" / "gopipe" / "docker"
    (owned / "ctx").mkdir(parents=True)
    (owned / "ctx" / "bin").write_bytes(b"x")
    (owned / "link").symlink_to(outside)
    remove_owned(owned / "link", within=owned)  # the link goes, not what it points at
    assert not (owned / "link").exists() and (outside / "keep.txt").is_file()
    remove_owned(owned / "ctx", within=owned)
    assert not (owned / "ctx").exists()
    remove_owned(owned / "missing", within=owned)  # nothing there: nothing to do
    for bad in (owned, owned / "..", outside, root / "src", owned / "ctx" / ".." / ".." / "x"):
        with pytest.raises(ValueError, match="refusing to delete"):
            remove_owned(bad, within=owned)
    assert (outside / "keep.txt").is_file() and (root / "src").is_dir()


def test_artifact_file_refuses_records_that_point_out(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "dist" / "a.tar.gz").write_bytes(b"x")
    good = Artifact(kind="archive", name="a", path="dist/a.tar.gz", stage="package", provider="archive")
    assert artifact_file(root, good) == root.resolve() / "dist" / "a.tar.gz"
    for path in ("../outside/keep.txt", str(outside / "keep.txt")):
        bad = Artifact(kind="archive", name="a", path=path, stage="package", provider="smuggle")
        with pytest.raises(ConfigError, match=r"archive 'a' path \(recorded by package.smuggle\)"):
            artifact_file(root, bad)
    layout = Artifact(kind="image", name="i", extra={"layout": "../outside"})
    with pytest.raises(ConfigError, match="layout"):
        artifact_file(root, layout, field="layout")


VARS = {"version": "1.2.3", "name": "hello", "os": "linux"}


def test_templates_fill_known_variables() -> None:
    assert render_template("{name}_{os}-{version}", VARS, file="f", key="k") == "hello_linux-1.2.3"
    assert render_template("{{literal}} {version:>6}|{name!r}", VARS, file="f", key="k") == (
        "{literal}  1.2.3|'hello'"
    )


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("-X main.version={verison}", "unknown template variable {verison}"),
        ("{name", "expected '}' before end of string"),
        ("name}", "Single '}'"),
        ("{0}", "positional field {0}"),
        ("{}", "positional field {}"),
        ("{version!x}", "unknown conversion !x"),
        ("{version.__class__}", "unknown template variable {version.__class__}"),
        ("{name[0]}", "unknown template variable {name[0]}"),
        ("{version:{name}}", "nested fields"),
        ("{version:d}", "bad format spec 'd'"),
    ],
)
def test_template_typos_are_config_errors_listing_the_variables(template: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        render_template(template, VARS, file="pyproject.toml", key="tool.gopipe.build.go.ldflags")
    assert (err.value.file, err.value.key) == ("pyproject.toml", "tool.gopipe.build.go.ldflags")
    assert says in str(err.value)
    assert "{name}" in str(err.value) and "{version}" in str(err.value)  # the known variables


def test_a_typo_gets_a_did_you_mean() -> None:
    with pytest.raises(ConfigError, match="did you mean 'version'"):
        render_template("{verison}", VARS, file="f", key="k")


def test_the_context_names_the_option_key(tmp_path: Path) -> None:
    ctx = provider_context(make_run(tmp_path), "build", "go", NoOptions())
    with pytest.raises(ConfigError) as err:
        ctx.render("{nope}", key="output")
    assert err.value.key == "tool.gopipe.build.go.output"
    with pytest.raises(ConfigError) as err:
        ctx.dist_path("../../x", "output")
    assert err.value.key == "tool.gopipe.build.go.output" and err.value.file == ctx.config.display_file
    with pytest.raises(ConfigError) as err:
        ctx.repo_path("/etc/passwd", "tool.gopipe.main[0]")
    assert err.value.key == "tool.gopipe.main[0]"
    assert ctx.dist_path("hello/hello", "output") == (tmp_path / "dist" / "hello" / "hello").resolve()
    assert ctx.repo_path("go.mod", "x") == (tmp_path / "go.mod").resolve()
