"""The learner loader and the scikit-learn demo learner (real training on digits)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tasksched.errors import LearnerError
from tasksched.gates import Evaluation
from tasksched.learners import DEFAULT_LEARNER, RunContext, load_learner, resolve_learner_path
from tasksched.learners.demo import DemoLearner


def ctx(tmp_path: Path, run_id: str, **kw: object) -> RunContext:
    return RunContext("acme", "s1", run_id, str(tmp_path / "model"), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("tests.worker.nope:Learner", "cannot be imported: ModuleNotFoundError"),
        ("tests.worker.learners:Missing", "has no attribute 'Missing'"),
        ("tests.worker.learners:BrokenInit", "could not be created: ValueError: no such model"),
        ("tests.worker.learners:Incomplete", "lacks backup, train, evaluate, promote, restore"),
        ("tests.worker.learners:MB", "is not a class or factory"),
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


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_demo_learner_data_grows_and_rollback_restores_the_model(tmp_path: Path) -> None:
    good = DemoLearner({"initial_samples": 300, "growth_per_run": 150, "growth_per_hour": 0})
    c1 = ctx(tmp_path, "r1")
    assert good.count_available_data(c1) == 300
    backup1 = good.backup(c1)
    cand = good.train(c1)
    ev = good.evaluate(c1, cand)
    assert isinstance(ev, Evaluation)
    assert ev.baseline_score is None
    assert ev.quality_score > 0.8 and ev.validation_score > 0.8
    good.promote(c1, cand)
    model = tmp_path / "model" / "model.joblib"
    promoted = _digest(model)
    assert good.count_available_data(c1) == 150  # new data arrived since the last training

    noisy = DemoLearner(
        {"initial_samples": 300, "growth_per_run": 150, "growth_per_hour": 0, "label_noise": 0.9}
    )
    c2 = ctx(tmp_path, "r2")
    backup2 = noisy.backup(c2)
    cand2 = noisy.train(c2)
    assert _digest(model) != promoted  # trained in place over the live model
    ev2 = noisy.evaluate(c2, cand2)
    assert ev2.baseline_score == pytest.approx(ev.validation_score)
    assert ev2.validation_score < ev2.baseline_score  # really worse
    noisy.restore(c2, backup2)
    assert _digest(model) == promoted  # rolled back for real
    assert backup1 is not None
    # The first backup was empty: restoring it removes the model that did not exist.
    good.restore(c1, backup1)
    assert not model.exists()


def test_demo_learner_uses_at_most_max_samples(tmp_path: Path) -> None:
    demo = DemoLearner({"initial_samples": 1000, "growth_per_hour": 0})
    c = ctx(tmp_path, "r1", max_samples=200)
    demo.train(c)
    ev = demo.evaluate(c, str(tmp_path / "model" / "model.joblib"))
    assert ev.metrics["test_samples"] == 40  # 20% of the 200 used


def test_demo_learner_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="model must be"):
        DemoLearner({"model": "gpt"})
    with pytest.raises(ValueError, match="label_noise"):
        DemoLearner({"label_noise": 2})
