"""``schemas/partial-gopipe.json``: complete, current, and what TOML editors (taplo) accept
for real configs and refuse for typos and wrong types."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gopipe.cli import main
from gopipe.config.options import UNSET
from gopipe.manager import create_manager
from gopipe.registry import ProviderRegistry
from gopipe.schema import INHERITED, REGENERATE, SCHEMA_FILE, SCHEMA_ID, config_schema
from gopipe.stages import Stage

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / SCHEMA_FILE
TOML_BLOCK = re.compile(r"^```toml\n(.*?)^```", re.S | re.M)


def generated() -> dict[str, Any]:
    return config_schema(ProviderRegistry.collect(create_manager(frozenset())))


def test_the_committed_schema_is_the_generated_one() -> None:
    text = json.dumps(generated(), indent=2, ensure_ascii=False) + "\n"
    assert COMMITTED.read_text(encoding="utf-8") == text, f"{SCHEMA_FILE} is stale: run {REGENERATE}"


def test_output_writes_the_same_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "partial-gopipe.json"
    assert main(["schema", "--output", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert json.loads(out.read_text()) == generated()
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == generated()


def test_output_into_a_missing_directory_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema", "--output", str(tmp_path / "no" / "such.json")]) == 2
    err = capsys.readouterr().err
    assert "--output" in err and "Traceback" not in err


def properties(
    node: dict[str, Any], path: str = "tool.gopipe"
) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Every (dotted key, property schema, parent schema) below ``node``."""
    for name, prop in node.get("properties", {}).items():
        yield f"{path}.{name}", prop, node
        yield from properties(prop, f"{path}.{name}")
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        yield from properties(extra, f"{path}.*")


def test_the_schema_is_complete() -> None:
    schema = json.loads(COMMITTED.read_text())
    assert schema["$id"] == SCHEMA_ID and schema["$id"].endswith("/partial-gopipe.json")
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert {s.value for s in Stage} | {"github", "requires", "targets"} <= set(schema["properties"])
    assert schema["properties"]["github"]["properties"]["test_shards"]["default"] == 1
    layer = schema["properties"]["modules"]["additionalProperties"]["properties"]
    assert "modules" not in layer and {"lint", "targets", "github"} <= set(layer)
    seen = 0
    for key, prop, parent in properties(schema):
        seen += 1
        assert prop.get("description"), f"{key} has no description"
        if "properties" in prop:
            continue  # a table: its keys carry the defaults
        name = key.rsplit(".", 1)[1]
        assert (
            "default" in prop
            or name in parent.get("required", [])
            or prop.get("$comment") in (UNSET, INHERITED)
        ), f"{key}: no default, not required, not marked {UNSET!r}"
    assert seen > 200, seen  # every stage, every provider table


@pytest.fixture(scope="module")
def taplo() -> str:
    exe = shutil.which("taplo")
    if exe is None:
        pytest.fail("taplo is not installed: pip install -r scripts/deps/pip-schema.txt")
    return exe


@pytest.fixture(scope="module")
def pyproject_schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pyproject.toml's shape around the partial schema, as SchemaStore's pyproject.json
    places it (``tool.gopipe``); inlined, so taplo needs no network."""
    partial = json.loads(COMMITTED.read_text())
    partial.pop("$schema")
    wrapper = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"tool": {"type": "object", "properties": {"gopipe": partial}}},
    }
    path = tmp_path_factory.mktemp("schema") / "pyproject.json"
    path.write_text(json.dumps(wrapper))
    return path


def taplo_check(taplo: str, schema: Path, toml: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [taplo, "check", "--colors", "never", "--schema", schema.as_uri(), str(toml)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def documented_snippets() -> list[tuple[str, str]]:
    found = []
    for md in sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md"]):
        for i, block in enumerate(TOML_BLOCK.findall(md.read_text(encoding="utf-8"))):
            if "[tool.gopipe" in block:
                found.append((f"{md.relative_to(ROOT)}#{i}", block))
    return found


SNIPPETS = documented_snippets()


def test_the_docs_have_snippets_to_check() -> None:
    assert len(SNIPPETS) >= 10, [name for name, _ in SNIPPETS]
    assert any("[tool.gopipe.github" in text for _, text in SNIPPETS)


def test_taplo_accepts_the_example_config(taplo: str, pyproject_schema: Path) -> None:
    result = taplo_check(taplo, pyproject_schema, ROOT / "examples" / "hello" / "pyproject.toml")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("name", "text"), SNIPPETS, ids=[name for name, _ in SNIPPETS])
def test_taplo_accepts_every_documented_snippet(
    taplo: str, pyproject_schema: Path, tmp_path: Path, name: str, text: str
) -> None:
    toml = tmp_path / "pyproject.toml"
    toml.write_text(text)
    result = taplo_check(taplo, pyproject_schema, toml)
    assert result.returncode == 0, f"{name}:\n{result.stderr}"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[tool.gopipe]\ntargts = ["linux/amd64"]\n', "'targts' was unexpected"),
        ('[tool.gopipe]\ntargets = "linux/amd64"\n', 'is not of type "array"'),
        ("[tool.gopipe]\nrequires = [1]\n", 'is not of type "string"'),
        ('[tool.gopipe.coverage.threshold]\ntotal = "80"\n', 'is not of type "number"'),
        ("[tool.gopipe.coverage.threshold]\ntotal = 180\n", "maximum of 100"),
        ("[tool.gopipe.coverage.threshold]\ntotl = 80\n", "'totl' was unexpected"),
        ("[tool.gopipe.github]\ntest_shard = 2\n", "'test_shard' was unexpected"),
        ('[tool.gopipe.github]\nbuild_matrix = "yes"\n', 'is not of type "boolean"'),
        ("[tool.gopipe.test]\ntimeout = -1\n", "minimum of 0"),
        ("[tool.gopipe.test]\ntimeot = 60\n", None),
        ('[tool.gopipe.lint]\nproviders = ["gofmt", "gofnt"]\n', "is not one of"),
        ('[tool.gopipe.notify.slack]\nwebhook = "https://hooks.example/plain"\n', None),
        ('[tool.gopipe.modules."libs/a"]\ntargts = []\n', "'targts' was unexpected"),
        ('[tool.gopipe.modules."libs/a".modules."b"]\nmain = []\n', "'modules' was unexpected"),
    ],
    ids=[
        "top-typo",
        "targets-string",
        "requires-int",
        "threshold-string",
        "threshold-range",
        "threshold-typo",
        "github-typo",
        "github-bool",
        "timeout-negative",
        "stage-key-typo",
        "provider-typo",
        "plaintext-secret",
        "module-layer-typo",
        "nested-modules",
    ],
)
def test_taplo_refuses_typos_and_wrong_types(
    taplo: str, pyproject_schema: Path, tmp_path: Path, toml: str, message: str | None
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(toml)
    result = taplo_check(taplo, pyproject_schema, path)
    assert result.returncode != 0, f"taplo accepted:\n{toml}"
    if message is not None:
        assert message in result.stderr, result.stderr
