"""The learner's child process: ``python -m tasksched.tasks.trainer <parent pid> <in fd> <out fd>``.

The only place a learner is built from a schedule's ``learner_options`` and called. It reads
one JSON step per line from ``<in fd>`` and answers each with one JSON line on ``<out fd>``
(``{"ok": true, "value": ...}``, ``{"ok": false, "error": ...}`` or ``{"ok": false,
"stopped": true}``), in this order for a run (see ``docs/learners.md``):

* ``load`` (``learner``: the operator's registered target, ``options``) - import and build;
* ``count_available_data``, ``backup``, ``train`` (``train`` then ``evaluate`` on the same
  instance; the candidate stays here), ``promote``, ``restore`` (``backup``), each with the
  run's ``context``.

The worker (``tasks/supervisor.py``) watches its memory and time: SIGTERM during a step asks
for a clean stop (:class:`~tasksched.learners.base.TrainingStopped` is raised inside the
learner), SIGKILL ends it. It dies with its parent (``PR_SET_PDEATHSIG``) on Linux and ends
when its input closes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Callable
from types import FrameType
from typing import Any

from tasksched.process import die_with_parent

_armed = [False]  # a SIGTERM now stops the running step


def _stop(signum: int, frame: FrameType | None) -> None:
    if _armed[0]:
        _armed[0] = False  # one stop request per step is enough
        from tasksched.learners.base import TrainingStopped

        raise TrainingStopped("stop requested (time limit or shutdown)")


class _Steps:
    """The learner of this run and what its steps left behind (the candidate)."""

    def __init__(self, out: Callable[[dict[str, Any]], None]):
        self.out = out
        self.learner: Any = None
        self.candidate: Any = None
        self.trained = False

    def _ctx(self, cmd: dict[str, Any]) -> Any:
        from tasksched.learners.base import RunContext

        return RunContext.from_dict(cmd["context"])

    def _method(self, name: str) -> None:
        self.out({"event": "method", "method": name})

    def load(self, cmd: dict[str, Any]) -> Any:
        from tasksched.learners.base import load_learner

        self.learner = load_learner(str(cmd["learner"]), cmd.get("options") or {})
        return None

    def count_available_data(self, cmd: dict[str, Any]) -> Any:
        return int(self.learner.count_available_data(self._ctx(cmd)))

    def backup(self, cmd: dict[str, Any]) -> Any:
        ref = self.learner.backup(self._ctx(cmd))
        if ref is not None and not isinstance(ref, str):
            raise TypeError(f"backup() must return a str or None, not {type(ref).__name__}")
        return ref

    def train(self, cmd: dict[str, Any]) -> Any:
        from tasksched.gates import Evaluation

        ctx = self._ctx(cmd)
        self._method("train")
        candidate = self.learner.train(ctx)
        self._method("evaluate")
        evaluation = Evaluation.from_any(self.learner.evaluate(ctx, candidate))
        self.candidate, self.trained = candidate, True
        shown = candidate if isinstance(candidate, str) else None
        return {"candidate": shown, "evaluation": evaluation.as_dict()}

    def promote(self, cmd: dict[str, Any]) -> Any:
        candidate = self.candidate if self.trained else cmd.get("candidate")
        self.learner.promote(self._ctx(cmd), candidate)
        return None

    def restore(self, cmd: dict[str, Any]) -> Any:
        said = self.learner.restore(self._ctx(cmd), cmd.get("backup"))
        return said if isinstance(said, str) else None


_STEPS = ("load", "count_available_data", "backup", "train", "promote", "restore")


def _run(steps: _Steps, cmd: dict[str, Any]) -> dict[str, Any]:
    from tasksched.errors import LearnerError
    from tasksched.learners.base import TrainingStopped

    step = str(cmd.get("step"))
    if step not in _STEPS or (step != "load" and steps.learner is None):
        return {"ok": False, "error": f"no such step now: {step!r}", "method": step}
    try:
        _armed[0] = bool(cmd.get("stoppable", True))
        try:
            value = getattr(steps, step)(cmd)
        finally:
            _armed[0] = False
        return {"ok": True, "value": value}
    except TrainingStopped:
        return {"ok": False, "stopped": True}
    except LearnerError as exc:  # already worded: "learner 'x:y' cannot be imported: ..."
        return {"ok": False, "error": str(exc), "method": step}
    except Exception as exc:
        tb = traceback.format_exc(limit=8)
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": tb[-4000:]}


def main(argv: list[str]) -> int:
    """Serve the steps read from fd ``argv[2]`` until it closes; answers go to fd ``argv[3]``."""
    die_with_parent(signal.SIGKILL, int(argv[1]))
    signal.signal(signal.SIGTERM, _stop)
    warnings.simplefilter("ignore")  # learners' library warnings are not the run's outcome
    out = os.fdopen(int(argv[3]), "wb", buffering=0)

    def write(message: dict[str, Any]) -> None:
        out.write((json.dumps(message, separators=(",", ":"), default=repr) + "\n").encode())

    steps = _Steps(write)
    with os.fdopen(int(argv[2]), "rb") as commands:
        for line in commands:
            try:
                cmd = json.loads(line)
            except ValueError:
                write({"ok": False, "error": "a step that is not JSON"})
                continue
            write(_run(steps, cmd))
    return 0


def _end(code: int) -> None:
    """Exit at once, as multiprocessing's children do: the run's outcome waits for this exit,
    and tearing down an interpreter that imported a learner's libraries (scikit-learn, numpy)
    takes hundreds of milliseconds that nothing needs. Output is flushed first."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    _end(main(sys.argv))
