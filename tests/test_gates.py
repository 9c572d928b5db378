"""The pure promotion gates, as a table."""

from __future__ import annotations

import math

import pytest

from tasksched.gates import Evaluation, decide
from tasksched.models import SafetyControls


def controls(rollback: bool = True) -> SafetyControls:
    return SafetyControls.model_validate(
        {
            "level": "moderate",
            "quality_threshold": 0.7,
            "validation_threshold": 0.8,
            "rollback_on_degradation": rollback,
        }
    )


@pytest.mark.parametrize(
    ("q", "v", "base", "rollback", "backup", "promote", "restore", "degraded", "words"),
    [
        (0.9, 0.9, None, True, True, True, False, False, "promoted"),
        (0.9, 0.9, 0.85, True, True, True, False, False, "promoted"),
        (0.6, 0.9, None, True, True, False, True, False, "quality 0.6000 < threshold 0.7000"),
        (0.9, 0.7, None, True, True, False, True, False, "validation 0.7000 < threshold 0.8000"),
        (0.6, 0.7, None, True, True, False, True, False, "quality 0.6000 < threshold 0.7000; val"),
        (0.9, 0.85, 0.9, True, True, False, True, True, "degraded: validation 0.8500 < current"),
        (0.9, 0.85, 0.9, False, True, True, False, True, "rollback_on_degradation is off"),
        (0.6, 0.9, None, True, False, False, False, False, "no backup to restore"),
        (0.9, 0.85, 0.9, True, False, False, False, True, "no backup to restore"),
        (0.7, 0.8, 0.8, True, True, True, False, False, "promoted"),  # equal is enough
    ],
)
def test_decide(
    q: float,
    v: float,
    base: float | None,
    rollback: bool,
    backup: bool,
    promote: bool,
    restore: bool,
    degraded: bool,
    words: str,
) -> None:
    gd = decide(Evaluation(q, v, base), controls(rollback), has_backup=backup)
    assert gd.promote is promote
    assert gd.rollback is restore
    assert gd.degraded is degraded
    assert words in gd.reason
    names = [g["gate"] for g in gd.gates]
    assert names[:2] == ["quality", "validation"]
    assert ("degradation" in names) is (base is not None)


def test_tolerance_allows_a_small_drop() -> None:
    ev = Evaluation(0.9, 0.88, 0.9)
    assert not decide(ev, controls(), True, tolerance=0.0).promote
    assert decide(ev, controls(), True, tolerance=0.05).promote


@pytest.mark.parametrize(
    "bad",
    [
        {"quality_score": "high", "validation_score": 0.9},
        {"quality_score": 0.9},
        {"quality_score": math.nan, "validation_score": 0.9},
        {"quality_score": True, "validation_score": 0.9},
        {"quality_score": 0.9, "validation_score": 0.9, "surprise": 1},
        [0.9, 0.9],
    ],
)
def test_malformed_evaluations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        Evaluation.from_any(bad)


def test_evaluation_from_mapping() -> None:
    ev = Evaluation.from_any({"quality_score": 1, "validation_score": 0.5, "metrics": {"n": 3}})
    assert ev.as_dict() == {
        "quality_score": 1.0,
        "validation_score": 0.5,
        "baseline_score": None,
        "metrics": {"n": 3},
    }
