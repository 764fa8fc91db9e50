"""``parse_options`` and ``schema_for``: one walk over the type hints validates a TOML table
and describes it, so a wrong type, a typo or a plaintext secret is one ConfigError line."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest

from gopipe.config import doc, parse_options, schema_for
from gopipe.errors import ConfigError
from gopipe.secrets import Redactor, Secret


@dataclass(frozen=True)
class Retry:
    """How often to try again."""

    attempts: int = doc("tries before giving up", 3)
    backoff: float = doc("seconds between tries", 0.5)


@dataclass(frozen=True)
class Options:
    """A provider's table, one field of every supported kind."""

    url: str = doc("where to send it")
    count: int = 1
    ratio: float = 1.0
    enabled: bool = True
    mode: Literal["fast", "safe"] = "safe"
    tags: tuple[str, ...] = ("latest",)
    ports: tuple[int, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    limit: int | None = None
    either: int | str = 0
    token: Secret | None = None
    retry: Retry = field(default_factory=Retry)
    anything: Any = None


def parse(data: dict[str, Any], **kwargs: Any) -> Options:
    return parse_options(
        Options, {"url": "https://example.invalid/x", **data}, file="f.toml", key="k", **kwargs
    )


def error(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(data)
    assert caught.value.exit_code == 2
    text = str(caught.value)
    assert "\n" not in text
    return text


# -- values ----------------------------------------------------------------------------------
def test_defaults_and_values_of_every_kind() -> None:
    assert parse({}) == Options(url="https://example.invalid/x")
    opts = parse(
        {
            "count": 4,
            "ratio": 2,
            "enabled": False,
            "mode": "fast",
            "tags": ["a", "b"],
            "ports": [80, 443],
            "labels": {"team": "platform"},
            "limit": 7,
            "either": "x",
            "retry": {"attempts": 5},
            "anything": {"free": ["form"]},
        }
    )
    assert (opts.count, opts.ratio, opts.enabled, opts.mode) == (4, 2.0, False, "fast")
    assert isinstance(opts.ratio, float)
    assert opts.tags == ("a", "b") and isinstance(opts.tags, tuple)  # arrays become (hashable) tuples
    assert opts.ports == (80, 443)
    assert opts.labels == {"team": "platform"}
    assert opts.limit == 7 and opts.either == "x"
    assert opts.retry == Retry(attempts=5, backoff=0.5)
    assert opts.anything == {"free": ["form"]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"count": "4"}, "f.toml: k.count: expected integer, got str '4' (fix: set count to "),
        ({"count": True}, "k.count: expected integer, got bool True"),  # TOML true is not 1
        ({"count": 1.5}, "k.count: expected integer, got float 1.5"),
        ({"enabled": 1}, "k.enabled: expected boolean, got int 1"),  # nor is 1 true
        ({"ratio": False}, "k.ratio: expected number, got bool False"),
        ({"ratio": "1"}, "k.ratio: expected number, got str '1'"),
        ({"url": 5}, "k.url: expected string, got int 5"),
        ({"tags": "latest"}, "k.tags: expected array, got str 'latest'"),
        ({"ports": [80, "443"]}, "k.ports[1]: expected integer, got str '443'"),
        ({"labels": ["a"]}, "k.labels: expected table, got list ['a']"),
        ({"labels": {"team": 1}}, "k.labels.team: expected string, got int 1"),
        ({"limit": "7"}, "k.limit: expected integer, got str '7'"),  # Optional: the inner type's error
        ({"either": 1.5}, "k.either: expected integer or string, got float 1.5"),
        ({"retry": {"attempts": "x"}}, "k.retry.attempts: expected integer, got str 'x'"),
        ({"retry": 3}, "k.retry: expected a table, got int"),
        ({"mode": "quick"}, "k.mode: invalid value 'quick' (fix: choose one of: 'fast', 'safe')"),
    ],
)
def test_wrong_types_name_the_key_and_the_expected_type(data: dict[str, Any], message: str) -> None:
    assert message in error(data)


def test_bools_and_ints_do_not_mix_either_way() -> None:
    assert parse({"count": 0}).count == 0
    assert parse({"enabled": True}).enabled is True
    assert "expected integer" in error({"count": False})
    assert "expected boolean" in error({"enabled": 0})


# -- keys ------------------------------------------------------------------------------------
def test_an_unknown_key_suggests_the_nearest_one() -> None:
    assert error({"cuont": 2}) == "f.toml: k.cuont: unknown key 'cuont' (fix: did you mean 'count'?)"
    assert "k.retry.atempts: unknown key 'atempts' (fix: did you mean 'attempts'?)" in error(
        {"retry": {"atempts": 2}}
    )


def test_an_unknown_key_with_no_near_match_lists_the_allowed_ones() -> None:
    assert error({"retry": {"zzz": 1}}) == (
        "f.toml: k.retry.zzz: unknown key 'zzz' (fix: allowed keys: attempts, backoff)"
    )


@dataclass(frozen=True)
class Renamed:
    """Options that used to be spelled differently."""

    RENAMED_KEYS: ClassVar[Mapping[str, tuple[str, str]]] = {
        "retries": ("retry.max_attempts", "it counts the first attempt too")
    }

    low: int = 0
    high: int = 10

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")


def test_a_renamed_key_points_at_its_new_name() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_options(Renamed, {"retries": 3}, file="f.toml", key="k")
    assert str(caught.value) == (
        "f.toml: k.retries: unknown key 'retries' (fix: did you mean 'retry.max_attempts'? "
        "it counts the first attempt too)"
    )
    with pytest.raises(ConfigError, match="did you mean 'high'"):
        parse_options(Renamed, {"hihg": 3}, file="f.toml", key="k")  # other keys as before


def test_a_value_error_from_post_init_is_a_config_error_naming_the_table() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_options(Renamed, {"low": 5, "high": 1}, file="f.toml", key="k")
    assert str(caught.value) == "f.toml: k: low (5) is above high (1)"


def test_a_required_key_says_how_to_set_it() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_options(Options, {}, file="f.toml", key="k")
    assert str(caught.value) == "f.toml: k.url: required key is missing (fix: set url = <string>)"


@dataclass(frozen=True)
class FromEnvironment:
    env: str
    default: str = ""


@dataclass(frozen=True)
class Bucket:
    bucket: str | FromEnvironment
    size: int | None = None


def test_a_required_union_key_names_its_choices_in_toml_terms() -> None:
    """``str | FromEnv`` is 'a string or { env = "…" }', not a Python type's repr."""

    with pytest.raises(ConfigError) as caught:
        parse_options(Bucket, {}, file="f.toml", key="k")
    assert str(caught.value) == (
        'f.toml: k.bucket: required key is missing (fix: set bucket = <string or { env = "…" }>)'
    )
    with pytest.raises(ConfigError, match=r"expected integer, got str"):
        parse_options(Bucket, {"bucket": "b", "size": "big"}, file="f.toml", key="k")


def test_the_table_itself_must_be_a_table() -> None:
    with pytest.raises(ConfigError, match=r"^f.toml: k: expected a table, got list$"):
        parse_options(Options, [], file="f.toml", key="k")  # type: ignore[arg-type]


def test_programming_errors_are_type_errors_not_config_errors() -> None:
    @dataclass
    class Unsupported:
        when: complex = 0j

    with pytest.raises(TypeError, match="is not a dataclass"):
        parse_options(dict, {}, file="f", key="k")
    with pytest.raises(TypeError, match="unsupported option type"):
        parse_options(Unsupported, {"when": 1}, file="f", key="k")
    with pytest.raises(TypeError, match="mutable defaults"):
        doc("a list", [])


# -- secrets ---------------------------------------------------------------------------------
def test_a_secret_is_accepted_only_by_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert error({"token": "s3cr3t-value"}) == (
        "f.toml: k.token: plaintext secret in config "
        '(fix: use token = { env = "TOKEN" } and export the value)'
    )
    for bad in ({}, {"env": ""}, {"env": 1}, {"env": "A", "file": "b"}, {"name": "A"}):
        assert "k.token: expected" in error({"token": bad}), bad
    monkeypatch.setenv("UNIT_TOKEN", "tok-0123456789")
    redactor = Redactor()
    by_env = parse({"token": {"env": "UNIT_TOKEN"}}, redactor=redactor)
    assert by_env.token == Secret(env="UNIT_TOKEN")
    assert redactor("sent tok-0123456789") == "sent ***"  # masked as soon as it is parsed
    assert "tok-0123456789" not in repr(by_env)
    (tmp_path / "token.txt").write_text("from-a-file-42\n")
    by_file = parse({"token": {"file": "token.txt"}}, base=tmp_path)
    assert by_file.token is not None and by_file.token.reveal() == "from-a-file-42"


def test_a_plain_string_that_looks_like_a_secret_is_refused() -> None:
    assert "k.url: looks like a plaintext secret" in error({"url": "https://bot:hunter22@example.invalid/"})
    assert "looks like a plaintext secret" in error(
        {"url": "https://example.invalid/send?token=abcdef012345"}
    )


# -- schema ----------------------------------------------------------------------------------
def test_schema_describes_every_kind() -> None:
    schema = schema_for(Options)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["description"] == "A provider's table, one field of every supported kind."
    assert schema["required"] == ["url"]
    props = schema["properties"]
    assert props["url"] == {"type": "string", "description": "where to send it"}
    assert props["count"] == {"type": "integer", "default": 1}
    assert props["ratio"] == {"type": "number", "default": 1.0}
    assert props["enabled"] == {"type": "boolean", "default": True}
    assert props["mode"] == {"enum": ["fast", "safe"], "default": "safe"}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}, "default": ["latest"]}
    assert props["labels"] == {"type": "object", "additionalProperties": {"type": "string"}, "default": {}}
    # Optional collapses to the inner type; a None default is "unset" (TOML has no null)
    assert props["limit"] == {"type": "integer", "$comment": "unset by default"}
    assert props["either"] == {"anyOf": [{"type": "integer"}, {"type": "string"}], "default": 0}
    assert props["anything"] == {"$comment": "unset by default"}
    token = props["token"]
    assert [o["required"] for o in token["oneOf"]] == [["env"], ["file"]]
    assert all(o["additionalProperties"] is False for o in token["oneOf"])
    retry = props["retry"]
    assert retry["description"] == "How often to try again."
    assert retry["properties"]["attempts"] == {
        "type": "integer",
        "description": "tries before giving up",
        "default": 3,
    }
    assert "required" not in retry
    assert retry["default"] == {"attempts": 3, "backoff": 0.5}  # a nested table's default: its own defaults


def test_schema_shows_a_secret_default_as_its_reference_never_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEFAULT_TOKEN", "s3cr3t-value-in-env")

    @dataclass(frozen=True)
    class WithDefaultSecret:
        token: Secret = field(default=Secret(env="DEFAULT_TOKEN"))

    prop = schema_for(WithDefaultSecret)["properties"]["token"]
    assert prop["default"] == {"env": "DEFAULT_TOKEN"}
    assert "s3cr3t" not in json.dumps(prop)
