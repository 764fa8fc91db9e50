"""Planning: pipelines expand, data dependencies are pulled in, the order is a valid DAG."""

from __future__ import annotations

import itertools

import pytest

from gopipe.errors import ConfigError
from gopipe.plan import make_plan
from gopipe.stages import DEPENDS_ON, PIPELINES, Stage

LINT, TEST, COVERAGE, BUILD = Stage.LINT, Stage.TEST, Stage.COVERAGE, Stage.BUILD
PACKAGE, UPLOAD, DEPLOY, NOTIFY = Stage.PACKAGE, Stage.UPLOAD, Stage.DEPLOY, Stage.NOTIFY


def test_ci_is_the_four_check_stages() -> None:
    plan = make_plan(["ci"])
    assert plan.name == "ci"
    assert plan.stages == (LINT, TEST, COVERAGE, BUILD)
    assert plan.needs == {LINT: (), TEST: (), COVERAGE: (TEST,), BUILD: ()}
    assert plan.notify


def test_cd_pulls_in_the_build_it_packages() -> None:
    plan = make_plan(["cd"])
    assert plan.stages == (BUILD, PACKAGE, UPLOAD, DEPLOY)
    assert plan.needs == {BUILD: (), PACKAGE: (BUILD,), UPLOAD: (PACKAGE,), DEPLOY: (UPLOAD,)}


@pytest.mark.parametrize(
    ("target", "stages"),
    [
        ("lint", (LINT,)),
        ("test", (TEST,)),
        ("coverage", (TEST, COVERAGE)),
        ("build", (BUILD,)),
        ("package", (BUILD, PACKAGE)),
        ("upload", (BUILD, PACKAGE, UPLOAD)),
        ("deploy", (BUILD, PACKAGE, UPLOAD, DEPLOY)),
    ],
)
def test_a_single_stage_brings_what_it_needs(target: str, stages: tuple[Stage, ...]) -> None:
    plan = make_plan([target])
    assert plan.name == target
    assert plan.stages == stages


def test_notify_alone_plans_no_stage_but_still_notifies() -> None:
    plan = make_plan(["notify"])
    assert plan.stages == () and plan.needs == {} and plan.notify


def test_targets_combine_in_stage_order_without_duplicates() -> None:
    plan = make_plan(["build", "lint", "build"])
    assert plan.name == "build+lint+build"
    assert plan.stages == (LINT, BUILD)
    both = make_plan(["cd", "ci"])
    assert both.stages == (LINT, TEST, COVERAGE, BUILD, PACKAGE, UPLOAD, DEPLOY)
    assert both.needs[PACKAGE] == (BUILD,) and both.needs[COVERAGE] == (TEST,)


def test_notify_can_be_switched_off() -> None:
    assert not make_plan(["ci"], notify=False).notify


def test_no_targets_is_an_empty_ci_plan() -> None:
    plan = make_plan([])
    assert plan.name == "ci" and plan.stages == ()


def test_a_misspelt_name_is_a_config_error_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as caught:
        make_plan(["ci", "biuld"])
    error = caught.value
    assert error.exit_code == 2
    assert str(error) == "command line: run: unknown pipeline or stage 'biuld' (fix: did you mean 'build'?)"


def test_an_unknown_name_is_a_config_error_listing_the_choices() -> None:
    with pytest.raises(ConfigError) as caught:
        make_plan(["zzzz"])
    assert str(caught.value) == (
        "command line: run: unknown pipeline or stage 'zzzz' (fix: choose one of: ci, cd, release, lint, "
        "test, coverage, build, package, upload, publish, deploy, notify)"
    )


NAMES = [*PIPELINES, *(s.value for s in Stage)]


@pytest.mark.parametrize("size", [1, 2, 3])
def test_every_plan_is_closed_under_its_needs_and_topologically_ordered(size: int) -> None:
    for targets in itertools.permutations(NAMES, size):
        plan = make_plan(list(targets))
        position = {stage: i for i, stage in enumerate(plan.stages)}
        assert NOTIFY not in position, targets
        assert len(position) == len(plan.stages), f"duplicate stage in {targets}"
        for stage in plan.stages:
            assert plan.needs[stage] == DEPENDS_ON[stage], targets  # all pulled in, so all kept
            for need in plan.needs[stage]:
                assert position[need] < position[stage], (targets, need, stage)
        asked = {s for t in targets for s in (PIPELINES[t] if t in PIPELINES else (Stage(t),))} - {NOTIFY}
        assert asked <= set(plan.stages), targets
