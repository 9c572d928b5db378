"""The learner protocol helpers: loading a registered target, names to targets, the context."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasksched.errors import LearnerError
from tasksched.learners import (
    DEFAULT_LEARNER,
    RunContext,
    learner_target,
    load_learner,
)
from tasksched.learners.base import model_dir


def ctx(tmp_path: Path, run_id: str, **kw: object) -> RunContext:
    return RunContext("acme", "s1", run_id, str(tmp_path / "model"), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("tests.learners.nope:Learner", "cannot be imported: ModuleNotFoundError"),
        ("tests.learners.scripted:Missing", "has no attribute 'Missing'"),
        ("tests.learners.scripted:BrokenInit", "could not be created: ValueError: no such model"),
        ("tests.learners.scripted:Incomplete", "lacks backup, train, evaluate, promote, restore"),
        ("tests.learners.scripted:MB", "is not a class or factory"),
        ("no_colon", "is not an import path"),
    ],
)
def test_load_learner_errors_name_the_problem(path: str, words: str) -> None:
    with pytest.raises(LearnerError) as err:
        load_learner(path, {})
    assert words in str(err.value)
    assert path in str(err.value)


def test_a_name_maps_to_the_operators_target_only() -> None:
    assert DEFAULT_LEARNER == "demo"
    assert learner_target("demo") == "tasksched.learners.demo:DemoLearner"  # the entry point
    assert learner_target("mine", "mine=tests.learners.scripted:Scripted") == (
        "tests.learners.scripted:Scripted"
    )
    # A setting wins over an entry point of the same name (the operator's own choice).
    assert learner_target("demo", "demo=tests.learners.scripted:Scripted").startswith("tests.")


@pytest.mark.parametrize("name", ["subprocess:Popen", "logging.config:dictConfig", "nope"])
def test_an_unregistered_name_or_an_import_path_is_refused(name: str) -> None:
    with pytest.raises(LearnerError) as err:
        learner_target(name, "mine=tests.learners.scripted:Scripted")
    assert "registered: demo, mine" in str(err.value)


def test_model_dir_is_derived_from_tenant_and_schedule(tmp_path: Path) -> None:
    assert model_dir(str(tmp_path), "acme", "s1") == tmp_path / "models" / "acme" / "s1"


def test_run_context_round_trip(tmp_path: Path) -> None:
    c = ctx(tmp_path, "r1", max_samples=5, forced=True, options={"x": 1})
    assert RunContext.from_dict(c.to_dict()) == c
