"""The benchmarks' do-nothing learner, in a module of its own: a learner's child imports it, and
a real learner's module imports little of tasksched (``gates`` for ``Evaluation``)."""

from __future__ import annotations

from typing import Any

from tasksched.gates import Evaluation
from tasksched.learners.base import RunContext


class NullLearner:
    """Reports data instantly; trains nothing (only tasksched's own costs are timed)."""

    def __init__(self, options: dict[str, Any]):
        pass

    def count_available_data(self, ctx: RunContext) -> int:
        return 1000

    def backup(self, ctx: RunContext) -> str | None:
        return None

    def train(self, ctx: RunContext) -> str | None:
        return None

    def evaluate(self, ctx: RunContext, candidate: str | None) -> Evaluation:
        return Evaluation(1.0, 1.0)

    def promote(self, ctx: RunContext, candidate: str | None) -> None:
        return None

    def restore(self, ctx: RunContext, backup: str | None) -> None:
        return None
