"""The training child process: ``python -m tasksched.tasks.trainer <job.json>``.

It loads the learner, runs ``train`` then ``evaluate`` on one instance and writes a JSON
result file. The worker (``tasks/supervisor.py``) watches its memory and time: SIGTERM asks
for a clean stop (:class:`~tasksched.learners.base.TrainingStopped` is raised inside the
learner), SIGKILL ends it. It dies with its parent (``PR_SET_PDEATHSIG``) on Linux.

Exit codes: 0 trained and evaluated, 1 the learner failed, 3 stopped on request.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
import warnings
from types import FrameType
from typing import Any

from tasksched.process import die_with_parent

EXIT_OK, EXIT_ERROR, EXIT_STOPPED = 0, 1, 3


def _write(path: str, data: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    """Run one training job described by the JSON file ``argv[1]``."""
    with open(argv[1]) as fh:
        job = json.load(fh)
    die_with_parent(signal.SIGKILL, int(job["parent_pid"]))
    from tasksched.gates import Evaluation
    from tasksched.learners.base import RunContext, TrainingStopped, load_learner

    def stop(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one stop request is enough
        raise TrainingStopped("soft time limit: stop requested")

    signal.signal(signal.SIGTERM, stop)
    result_path = str(job["result_path"])
    warnings.simplefilter("ignore")  # learners' library warnings are not the run's outcome
    try:
        learner = load_learner(job["learner"], job.get("options") or {})
        ctx = RunContext.from_dict(job["context"])
        candidate = learner.train(ctx)
        evaluation = Evaluation.from_any(learner.evaluate(ctx, candidate))
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        result = {"ok": True, "candidate": candidate, "evaluation": evaluation.as_dict()}
        _write(result_path, result)
        return EXIT_OK
    except TrainingStopped:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _write(result_path, {"ok": False, "stopped": True})
        return EXIT_STOPPED
    except Exception as exc:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        tb = traceback.format_exc(limit=8)
        _write(
            result_path,
            {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": tb[-4000:]},
        )
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main(sys.argv))
