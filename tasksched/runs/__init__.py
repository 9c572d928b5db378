"""A run seen from outside the worker: triggering one (:func:`trigger`) and following it
(:class:`RunHandle`)."""

from tasksched.runs.handle import RunHandle
from tasksched.runs.trigger import trigger

__all__ = ["RunHandle", "trigger"]
