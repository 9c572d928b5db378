"""Whether a trained candidate is promoted: the pure quality/validation/degradation gates.

* quality score under ``quality_threshold`` -> rejected;
* validation score under ``validation_threshold`` -> rejected;
* score under the current model's (degradation, beyond ``tolerance``) -> rejected when
  ``rollback_on_degradation`` is on; when it is off the candidate is promoted and the run
  notes that it degraded (the permissive preset's choice).

A rejected candidate is rolled back: the backup taken before training is restored (when one
was taken), because a learner may train in place over the live model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a type only: the learner's child imports this module without pydantic
    from tasksched.models import SafetyControls

__all__ = ["Evaluation", "GateDecision", "decide"]


@dataclass(frozen=True)
class Evaluation:
    """What a learner's ``evaluate`` reports, scores in [0, 1], higher is better.

    ``baseline_score`` is the current (previous) model's score on the same validation data,
    None when there is no current model. ``metrics`` is free-form and JSON-ready.
    """

    quality_score: float
    validation_score: float
    baseline_score: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_any(cls, value: Any) -> Evaluation:
        """Accept an Evaluation or a mapping with the same keys; ValueError when malformed."""
        if isinstance(value, Evaluation):
            ev = value
        elif isinstance(value, dict):
            known = {"quality_score", "validation_score", "baseline_score", "metrics"}
            unknown = set(value) - known
            if unknown:
                raise ValueError(f"unknown evaluation keys {sorted(unknown)}")
            ev = cls(
                quality_score=value.get("quality_score"),  # type: ignore[arg-type]
                validation_score=value.get("validation_score"),  # type: ignore[arg-type]
                baseline_score=value.get("baseline_score"),
                metrics=dict(value.get("metrics") or {}),
            )
        else:
            raise ValueError(f"evaluate() returned {type(value).__name__}, not an Evaluation")
        for name in ("quality_score", "validation_score", "baseline_score"):
            v = getattr(ev, name)
            if v is None and name == "baseline_score":
                continue
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
        return ev

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "quality_score": float(self.quality_score),
            "validation_score": float(self.validation_score),
            "baseline_score": None if self.baseline_score is None else float(self.baseline_score),
            "metrics": self.metrics,
        }


@dataclass(frozen=True)
class GateDecision:
    """Promote or reject; whether to restore the backup; the reason; each gate's result."""

    promote: bool
    rollback: bool
    reason: str
    gates: list[dict[str, Any]]
    degraded: bool = False


def decide(
    evaluation: Evaluation,
    controls: SafetyControls,
    has_backup: bool,
    tolerance: float = 0.0,
) -> GateDecision:
    """Apply the gates to ``evaluation`` under ``controls``.

    ``tolerance`` is how far under the baseline a candidate may score before it counts as
    degraded (learner option ``degradation_tolerance``).
    """
    gates: list[dict[str, Any]] = []
    failures: list[str] = []

    q, qt = float(evaluation.quality_score), controls.quality_threshold
    gates.append({"gate": "quality", "ok": q >= qt, "score": q, "threshold": qt})
    if q < qt:
        failures.append(f"quality {q:.4f} < threshold {qt:.4f}")

    v, vt = float(evaluation.validation_score), controls.validation_threshold
    gates.append({"gate": "validation", "ok": v >= vt, "score": v, "threshold": vt})
    if v < vt:
        failures.append(f"validation {v:.4f} < threshold {vt:.4f}")

    degraded = False
    base = evaluation.baseline_score
    if base is not None:
        degraded = v < float(base) - tolerance
        gate: dict[str, Any] = {
            "gate": "degradation",
            "ok": not degraded or not controls.rollback_on_degradation,
            "score": v,
            "baseline": float(base),
            "tolerance": tolerance,
            "degraded": degraded,
        }
        gates.append(gate)
        if degraded and controls.rollback_on_degradation:
            failures.append(f"degraded: validation {v:.4f} < current model {float(base):.4f}")

    if failures:
        reason = "rejected: " + "; ".join(failures)
        reason += "; backup restored" if has_backup else "; no backup to restore"
        return GateDecision(False, has_backup, reason, gates, degraded)
    reason = "promoted"
    if degraded:
        reason += (
            f" although it scores under the current model ({v:.4f} < {float(base or 0):.4f}):"
            " rollback_on_degradation is off"
        )
    return GateDecision(True, False, reason, gates, degraded)
