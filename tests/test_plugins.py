"""The registry of learner names: entry points plus TASKSCHED_LEARNERS, never a schedule's path."""

from __future__ import annotations

import pytest

from tasksched.errors import ValidationError
from tasksched.plugins import parse_learners, registered_learners, unknown_learner


def test_the_demo_is_registered_by_its_entry_point() -> None:
    assert registered_learners("")["demo"] == "tasksched.learners.demo:DemoLearner"


def test_the_setting_adds_names() -> None:
    got = registered_learners("churn=mylearners:ChurnModel, fast = pkg.mod:Fast")
    assert got["churn"] == "mylearners:ChurnModel" and got["fast"] == "pkg.mod:Fast"
    assert list(got) == sorted(got)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("churn", "is not 'name=module:attribute'"),
        ("bad name=a:b", "is not 'name=module:attribute'"),
        ("churn=not a path", "is not 'module:attribute'"),
        ("a=x:y,a=x:z", "listed twice"),
    ],
)
def test_a_bad_setting_names_the_variable(value: str, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_learners(value)
    assert err.value.field == "TASKSCHED_LEARNERS" and words in err.value.message


def test_the_refusal_lists_the_registered_names() -> None:
    text = unknown_learner("subprocess:Popen", {"demo": "x:y", "churn": "a:b"})
    assert "import path" in text and "demo, churn" in text
    assert "registered: none" in unknown_learner("x", {})
