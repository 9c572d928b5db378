"""The learner protocol and its loader.

A learner is what a schedule trains. It is built and called only in the run's supervised
child process (``tasks/trainer.py``; one instance for the whole run), in this order (see
``docs/learners.md``):

1. ``count_available_data(ctx)`` - how many *new* samples exist (cheap: a pre-run check).
2. ``backup(ctx)`` - save the current model, return a reference (or None).
3. ``train(ctx)`` - train a candidate on at most ``ctx.max_samples`` samples, return it.
4. ``evaluate(ctx, candidate)`` - score the candidate and the current model
   (:class:`~tasksched.gates.Evaluation`).
5. ``promote(ctx, candidate)`` - make the candidate the current model, or
6. ``restore(ctx, backup)`` - put the backup back (rejection, failure, stop).

Learners are registered by the operator under a name (the entry-point group
``tasksched.learners``, or ``TASKSCHED_LEARNERS``: see :mod:`tasksched.plugins`); a schedule
names one. The registered target ``module:attribute`` is a class (or any callable) taking the
schedule's ``learner_options`` dict and returning the learner. Nothing a schedule stores is
ever imported: :func:`learner_target` maps a name to the operator's target, or refuses it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tasksched.errors import LearnerError
from tasksched.gates import Evaluation

__all__ = [
    "DEFAULT_LEARNER",
    "Learner",
    "RunContext",
    "TrainingStopped",
    "learner_target",
    "load_learner",
    "model_dir",
]

DEFAULT_LEARNER = "demo"  # the registered name of the demo learner


class TrainingStopped(BaseException):
    """Raised inside ``train``/``evaluate`` when the run's soft time limit asks it to stop.

    A BaseException so that a learner's ``except Exception`` does not swallow it; a learner
    may catch it to clean up, and should re-raise it.
    """


@dataclass(frozen=True)
class RunContext:
    """What a learner knows about the run it serves (JSON-serialisable)."""

    tenant_id: str
    schedule_id: str
    run_id: str
    model_dir: str
    options: dict[str, Any] = field(default_factory=dict)
    max_samples: int | None = None  # use at most this many samples (max_data_threshold)
    forced: bool = False
    backup: str | None = None  # the reference backup() returned for this run

    @property
    def model_path(self) -> Path:
        """``model_dir`` as a Path."""
        return Path(self.model_dir)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (for the training child process)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunContext:
        """Rebuild from :meth:`to_dict`."""
        return cls(**dict(data))


@runtime_checkable
class Learner(Protocol):
    """The protocol every learner implements (structural: no base class needed)."""

    def count_available_data(self, ctx: RunContext) -> int:
        """How many new samples are available since the current model was trained."""

    def backup(self, ctx: RunContext) -> str | None:
        """Save the current model; return a reference for :meth:`restore` (None: nothing)."""

    def train(self, ctx: RunContext) -> str | None:
        """Train a candidate (may write over the live model); return a candidate reference."""

    def evaluate(self, ctx: RunContext, candidate: str | None) -> Evaluation | dict[str, Any]:
        """Score the candidate (quality, validation) and the current model (baseline)."""

    def promote(self, ctx: RunContext, candidate: str | None) -> None:
        """Make the candidate the current model."""

    def restore(self, ctx: RunContext, backup: str | None) -> str | None:
        """Put the backup back as the current model.

        May return a few words on what that meant (e.g. ``"no previous model"`` when the backup
        was of nothing): the run's reason then says that instead of ``"backup restored"``.
        """


_METHODS = ("count_available_data", "backup", "train", "evaluate", "promote", "restore")


def model_dir(state_dir: str, tenant_id: str, schedule_id: str) -> Path:
    """A schedule's model directory: ``<state_dir>/models/<tenant>/<schedule>``.

    Both ids are validated names (no ``/``, no leading ``.``), so the path stays inside the
    tenant's own directory; it is derived, never taken from a schedule's options.
    """
    return Path(state_dir) / "models" / tenant_id / schedule_id


def learner_target(name: str, learners_setting: str = "") -> str:
    """The operator's ``module:attribute`` for the registered learner ``name``.

    Raises LearnerError (naming the registered learners) when ``name`` is not registered on
    this host, an import path included: a schedule never chooses what is imported.
    """
    # Here, not at the top: the learner's child imports this module, never the registry.
    from tasksched.plugins import registered_learners, unknown_learner

    registered = registered_learners(learners_setting)
    target = registered.get(name)
    if target is None:
        raise LearnerError(unknown_learner(name, registered))
    return target


def _import(path: str) -> Any:
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise LearnerError(f"learner {path!r} is not an import path 'module:attribute'")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise LearnerError(
            f"learner {path!r} cannot be imported: {type(exc).__name__}: {exc}"
        ) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise LearnerError(
                f"learner {path!r}: {module_name} has no attribute {attr!r}"
            ) from None
    return obj


def load_learner(path: str, options: Mapping[str, Any] | None = None) -> Learner:
    """Import the registered target ``module:attribute``, build it with ``options``.

    ``path`` comes from the operator's registry (:func:`learner_target`), never from a
    schedule. Raises LearnerError with a clear reason.
    """
    factory = _import(path)
    if not callable(factory):
        raise LearnerError(f"learner {path!r} is not a class or factory")
    try:
        learner = factory(dict(options or {}))
    except Exception as exc:
        raise LearnerError(
            f"learner {path!r} could not be created: {type(exc).__name__}: {exc}"
        ) from exc
    missing = [m for m in _METHODS if not callable(getattr(learner, m, None))]
    if missing:
        raise LearnerError(f"learner {path!r} lacks {', '.join(missing)} (see docs/learners.md)")
    return learner  # type: ignore[no-any-return]
