"""Learners: the protocol (:mod:`tasksched.learners.base`) and the demo learner."""

from tasksched.learners.base import (
    DEFAULT_LEARNER,
    Learner,
    RunContext,
    TrainingStopped,
    load_learner,
    resolve_learner_path,
)

__all__ = [
    "DEFAULT_LEARNER",
    "Learner",
    "RunContext",
    "TrainingStopped",
    "load_learner",
    "resolve_learner_path",
]
