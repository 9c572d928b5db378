"""Learners: the protocol and loader (:mod:`tasksched.learners.base`) and the demo learner."""

from tasksched.learners.base import (
    DEFAULT_LEARNER,
    Learner,
    RunContext,
    TrainingStopped,
    learner_target,
    load_learner,
)

__all__ = [
    "DEFAULT_LEARNER",
    "Learner",
    "RunContext",
    "TrainingStopped",
    "learner_target",
    "load_learner",
]
