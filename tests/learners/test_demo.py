"""The scikit-learn demo learner: real training on digits, rollback, options."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tasksched.gates import Evaluation
from tasksched.learners.demo import DemoLearner
from tests.learners.test_base import ctx


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
    assert noisy.restore(c2, backup2) is None  # a model was put back: the worker says so
    assert _digest(model) == promoted  # rolled back for real
    assert backup1 is not None
    # The first backup was empty: restoring it removes the model that did not exist, and the
    # run's reason says "no previous model", not "backup restored".
    said = good.restore(c1, backup1)
    assert said is not None and said.startswith("no previous model")
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
    with pytest.raises(ValueError, match="model_dir is not an option"):
        DemoLearner({"model_dir": "/tmp/elsewhere"})  # a tenant never chooses the directory
