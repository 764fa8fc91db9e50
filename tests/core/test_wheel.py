"""gopipe as users get it: from its wheel, in a clean virtual environment.

The wheel holds exactly the three packages plus the example project as package data. In a
venv without system site-packages (it cannot see this checkout), the wheel's ``gopipe
new-plugin`` scaffolds a plugin, the plugin installs the way its README says
(``pip install -e '.[test]'``), and its own tests pass with the venv's pytest, using the
fixtures of the installed ``gopipe.testing``; ``hello_repo`` works from the wheel too.

The dependencies come from the package index once; later runs install them offline from a
wheelhouse in the temp directory, keyed by the requirements and the interpreter. For speed
the venv has no pip of its own (this interpreter's pip installs into it with ``--python``)
and the plugin builds without isolation, with the hatchling installed in the venv.
"""

from __future__ import annotations

import contextlib
import email.message
import email.parser
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.etree import ElementTree

import pytest

import gopipe

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"gopipe", "gopipe_oci", "gopipe_plugins"}
FIXTURE_DIR = "gopipe/_fixtures/hello/"
# What the venv needs besides gopipe's own requirements: pytest to run the plugin's tests,
# hatchling and editables to build the plugin's editable install.
TOOLING = ("pytest>=8", "hatchling>=1.24", "editables>=0.3")
# The environment of the venv's processes: nothing that would let them see this checkout.
_LEAKY_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV")


def run(args: Sequence[str | Path], *, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run a command; on failure show its whole output in the assertion."""
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, text=True, capture_output=True, check=False
    )
    assert proc.returncode == 0, f"{' '.join(map(str, args))}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def tracked_example_files() -> set[str]:
    """examples/hello as git tracks it: what the wheel must ship, no more (no dist/, caches)."""
    listed = run(["git", "-C", ROOT, "ls-files", "-z", "--", "examples/hello"])
    return {p.removeprefix("examples/hello/") for p in listed.split("\0") if p}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gopipe's wheel, built from this checkout with the hatchling installed for the tests."""
    if importlib.util.find_spec("hatchling") is None:
        pytest.fail("hatchling is not installed: pip install -r scripts/deps/pip-github.txt")
    out = tmp_path_factory.mktemp("wheel")
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            out,
            ROOT,
        ]
    )
    (built,) = out.glob("gopipe-*.whl")
    return built


def metadata(wheel: Path) -> email.message.Message:
    """The wheel's METADATA (the core metadata pip reads)."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = (n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(archive.read(name).decode())


def runtime_requirements(wheel: Path) -> list[str]:
    """The wheel's Requires-Dist without the optional extras."""
    return [r for r in metadata(wheel).get_all("Requires-Dist") or [] if "extra ==" not in r]


def wheelhouse(requirements: Sequence[str]) -> Path:
    """A directory of wheels for ``requirements``, downloaded once per requirements + interpreter."""
    key = hashlib.sha256(
        json.dumps([sorted(requirements), sys.version, platform.machine()]).encode()
    ).hexdigest()[:16]
    home = Path(tempfile.gettempdir()) / "gopipe-test-wheelhouse"
    target = home / key
    if target.is_dir():
        return target
    home.mkdir(exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=home))
    try:
        run([sys.executable, "-m", "pip", "download", "--only-binary", ":all:", "-d", partial, *requirements])
        with contextlib.suppress(OSError):  # another run filled it first; theirs is as good
            partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def test_wheel_holds_the_packages_and_the_example_project(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == PACKAGES
    assert not [n for n in names if n.startswith(("scripts/", "tests/", "examples/"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    shipped = {n.removeprefix(FIXTURE_DIR) for n in names if n.startswith(FIXTURE_DIR)}
    assert shipped == tracked_example_files()
    assert {"go.mod", "cmd/hello/main.go", "pyproject.toml"} <= shipped
    assert "demo" not in (metadata(wheel).get_all("Provides-Extra") or [])  # scripts/deps/pip-demo.txt


HELLO_CHECK = '''\
"""hello_repo from the installed wheel: gopipe's example project in a fresh git repository."""

import sysconfig
from pathlib import Path

import gopipe.testing


def test_hello_repo_comes_from_the_wheel(hello_repo: Path) -> None:
    source = Path(str(gopipe.testing.example_project()))
    assert source.is_relative_to(sysconfig.get_path("purelib")), source
    files = {{p.relative_to(hello_repo).as_posix() for p in hello_repo.rglob("*")
             if p.is_file() and ".git" not in p.relative_to(hello_repo).parts}}
    assert files == {expected!r}
    assert (hello_repo / ".git").is_dir()
'''


def test_scaffolded_plugin_passes_its_tests_against_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    # no system site-packages, so the checkout and the suite's own packages are invisible
    run([sys.executable, "-m", "venv", "--without-pip", env_dir])
    bin_dir = env_dir / "bin"
    python = bin_dir / "python"
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY_ENV}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", PIP_DISABLE_PIP_VERSION_CHECK="1")
    house = wheelhouse([*runtime_requirements(wheel), *TOOLING])
    pip_install: list[str | Path] = [sys.executable, "-m", "pip", "--python", python, "install"]
    pip_install += ["--no-compile", "--no-index", "--find-links", house]

    run([*pip_install, wheel, *TOOLING], env=env)
    where = json.loads(
        run(
            [python, "-c", "import gopipe, json, sys; print(json.dumps([gopipe.__file__, sys.path]))"],
            env=env,
            cwd=tmp_path,
        )
    )
    gopipe_file, path = Path(where[0]), [(tmp_path / p).resolve() for p in where[1]]  # "" is its cwd
    assert gopipe_file.is_relative_to(env_dir), gopipe_file
    # the suite's gopipe is this checkout (a worktree needs its PYTHONPATH), which the venv cannot see
    assert Path(gopipe.__file__).resolve().is_relative_to(ROOT), gopipe.__file__
    assert not [p for p in path if p.is_relative_to(ROOT)], path

    out = run([bin_dir / "gopipe", "new-plugin", "wheelcheck", "-o", tmp_path], env=env, cwd=tmp_path)
    project = tmp_path / "gopipe-wheelcheck"
    assert f"wrote {project / 'tests' / 'test_plugin.py'}" in out
    run([*pip_install, "--no-build-isolation", "-e", f"{project}[test]"], env=env)

    check = tmp_path / "hello_check"
    check.mkdir()
    expected = {*tracked_example_files(), ".gitignore"}  # make_git_repo adds the .gitignore
    (check / "test_hello_from_wheel.py").write_text(HELLO_CHECK.format(expected=expected))
    junit = tmp_path / "junit.xml"
    run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", "tests", check],
        env=env,
        cwd=project,
    )
    outcomes = {
        f"{case.get('classname')}::{case.get('name')}": [child.tag for child in case]
        for case in ElementTree.parse(junit).iter("testcase")
    }
    assert outcomes == {
        "tests.test_plugin::test_writes_the_message": [],
        "tests.test_plugin::test_unknown_template_variable_is_bad_config": [],
        "tests.test_plugin::test_rejects_an_unknown_option": [],
        "test_hello_from_wheel::test_hello_repo_comes_from_the_wheel": [],
    }, outcomes
