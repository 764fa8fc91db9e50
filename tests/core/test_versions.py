"""Version tags: one reading of ``v1.2.3`` and ``services/api/v1.2.3`` for the whole project."""

from __future__ import annotations

from gopipe.versions import next_patch, normalise_prefix, parse_version_tag, version_tags


def test_root_module_ignores_other_modules_tags() -> None:
    assert parse_version_tag("services/api/v1.2.3") is None
    tag = parse_version_tag("v1.2.3")
    assert tag is not None and tag.text == "1.2.3"


def test_prefixed_tag_versions_the_module_at_that_path() -> None:
    tag = parse_version_tag("services/api/v1.2.3-rc.1", "services/api/")
    assert tag is not None
    assert tag.text == "1.2.3-rc.1"
    assert tag.prerelease
    assert parse_version_tag("services/web/v1.0.0", "services/api") is None
    assert parse_version_tag("services/api/latest", "services/api") is None


def test_tags_sort_by_semver_not_by_text() -> None:
    names = ["v1.10.0", "v1.9.0", "v1.10.0-rc.1", "nightly", "lib/v9.0.0"]
    assert [t.name for t in version_tags(names)] == ["v1.10.0", "v1.10.0-rc.1", "v1.9.0"]


def test_next_patch_skips_prereleases() -> None:
    assert next_patch(version_tags(["v1.2.3", "v1.3.0-rc.1"])) == "1.2.4"
    assert next_patch([]) == "0.0.1"


def test_prefix_spellings_agree() -> None:
    assert normalise_prefix("services/api") == normalise_prefix("/services/api/") == "services/api/"
    assert normalise_prefix(".") == normalise_prefix("") == ""
