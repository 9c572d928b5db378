"""The learner protocol helpers: loading by import path, the path order, the run context."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasksched.errors import LearnerError
from tasksched.learners import DEFAULT_LEARNER, RunContext, load_learner, resolve_learner_path


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


def test_resolve_learner_path_order() -> None:
    assert resolve_learner_path("a.b:C", "d.e:F") == "a.b:C"
    assert resolve_learner_path(None, "d.e:F") == "d.e:F"
    assert resolve_learner_path(None, "") == DEFAULT_LEARNER


def test_run_context_round_trip(tmp_path: Path) -> None:
    c = ctx(tmp_path, "r1", max_samples=5, forced=True, options={"x": 1})
    assert RunContext.from_dict(c.to_dict()) == c
