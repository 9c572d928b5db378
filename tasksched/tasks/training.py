"""The Celery task ``tasksched.train``: one training run on this worker.

Arguments are ids only (``tenant_id``, ``schedule_id``, ``run_id``, ``fire_time``,
``trigger``); the task id is the run id. Options: ``acks_late`` and
``reject_on_worker_lost`` (a lost worker's run is redelivered, then recognised as lost),
retries without limit for deferrals (each is bounded by the run's misfire grace), and
Celery time limits as a backstop above the worker's own enforcement (``tasks/supervisor.py``);
a caller may set per-call limits (``trigger_training`` does, from the schedule's config).

How a run ends shows in Celery's own terms (Flower's task list, a result backend): a run that
succeeded is SUCCESS; a failed or lost one is FAILURE carrying its reason (:class:`RunFailed`);
a rejected one (the quality gates kept the model in service) is ``NOT_PROMOTED``, a skipped one
``SKIPPED``, an interrupted one ``INTERRUPTED`` (custom states: an event of that name for Flower,
the state in the result backend, then :class:`~celery.exceptions.Ignore`, so no SUCCESS follows);
a deferred one is RETRY with the reason. A refused delivery (the run already started or ended)
changes nothing: the task keeps the state its first delivery gave it.

While a run is in progress, SIGTERM to the process running it (a stack stopping its process
group, as Ctrl-C in ``tasksched up`` does; ``revoke(terminate=True)``) asks the run to stop: it
ends as ``interrupted`` with its lock released, unless its training finishes within a short
grace (``tasks/supervisor.py``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from billiard import current_process
from celery import Task
from celery.exceptions import Ignore

from tasksched.celery import TRAIN_TASK, app, training_time_limits_s
from tasksched.models import RunStatus
from tasksched.resources import HostMonitor
from tasksched.settings import get_settings
from tasksched.store import Store
from tasksched.tasks import heartbeat as _heartbeat  # noqa: F401 - registers worker signals
from tasksched.tasks.prerun import RunMessage
from tasksched.tasks.run_steps import RunPipeline

__all__ = ["CELERY_STATES", "RunDeferred", "RunFailed", "pipeline", "train"]


class RunFailed(Exception):
    """Raised (as the task's FAILURE) when a run ended failed or lost; carries the reason."""


class RunDeferred(Exception):
    """The reason a run was deferred, shown with the task's RETRY."""


# The Celery state of each run outcome that is neither SUCCESS nor FAILURE. Celery's own
# REJECTED (a refused message) ranks below STARTED and would never show: hence NOT_PROMOTED.
CELERY_STATES = {
    RunStatus.REJECTED: "NOT_PROMOTED",
    RunStatus.SKIPPED: "SKIPPED",
    RunStatus.INTERRUPTED: "INTERRUPTED",
}

_PIPELINE: tuple[int, RunPipeline] | None = None


def pipeline() -> RunPipeline:
    """This process's pipeline (store, host monitor), made on first use and after a fork."""
    global _PIPELINE
    if _PIPELINE is None or _PIPELINE[0] != os.getpid():
        settings = get_settings()
        store = Store(settings=settings)
        monitor = HostMonitor.get(settings.worker_cpu_sample_s)
        _PIPELINE = (os.getpid(), RunPipeline(store, settings, monitor))
    return _PIPELINE[1]


_SOFT_S, _HARD_S = training_time_limits_s(
    float(get_settings().max_training_time_s), get_settings().training_kill_grace_s,
    get_settings().learner_step_timeout_s,
)


@app.task(  # type: ignore[untyped-decorator,misc]
    name=TRAIN_TASK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    soft_time_limit=_SOFT_S,
    time_limit=_HARD_S,
    # expected: logged without a traceback; Flower shows FAILURE with the reason
    throws=(RunFailed,),
    track_started=True,
)
def train(
    self: Task,
    tenant_id: str,
    schedule_id: str,
    run_id: str,
    fire_time: float | None = None,
    trigger: str = "cron",
    **_ignored: Any,
) -> dict[str, Any]:
    """Run the pre-run checks, train, gate and record the outcome of ``run_id``."""
    msg = RunMessage(
        tenant_id=tenant_id,
        schedule_id=schedule_id,
        run_id=run_id,
        fire_time=float(fire_time) if fire_time is not None else None,
        trigger=trigger,
        worker=str(self.request.hostname or socket.gethostname()),
    )
    with _stop_on_sigterm() as stop:
        outcome = pipeline().run(msg, stop)
    if outcome.countdown_s > 0:
        # Re-queued with a delay: any worker (maybe a bigger one) may take it.
        raise self.retry(
            countdown=outcome.countdown_s, max_retries=None, exc=RunDeferred(outcome.reason)
        )
    result = {
        "run_id": run_id,
        "status": outcome.status.value if outcome.status else "refused",
        "reason": outcome.reason,
    }
    if outcome.status is None:
        raise Ignore()  # a repeat delivery: the first one's state stands
    if outcome.status in (RunStatus.FAILED, RunStatus.LOST):
        raise RunFailed(outcome.reason)
    state = CELERY_STATES.get(outcome.status)
    if state is not None:
        _end_in_state(self, state, result)
    return result


def _end_in_state(task: Task, state: str, result: dict[str, Any]) -> None:
    """End the task in a custom ``state``: stored (a result backend), sent as the event
    ``task-<state>`` (Flower, when events are on), and no SUCCESS after it."""
    task.update_state(state=state, meta=result)
    if task.app.conf.worker_send_task_events:
        with contextlib.suppress(Exception):  # a lost monitoring event must not fail the run
            task.send_event(f"task-{state.lower()}", result=repr(result), retry=False)
    raise Ignore()


@contextmanager
def _stop_on_sigterm() -> Iterator[Callable[[], bool]]:
    """While the body runs, SIGTERM sets a flag (returned as a callable) instead of ending the
    process. In a prefork pool process billiard's handler would exit at once (the run left
    ``running``); it runs again after the run, when the stopping worker ends its pool. In the
    worker's own process (solo pool) the worker's handler still runs: its warm shutdown waits
    for this run."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    requested = threading.Event()
    previous = signal.getsignal(signal.SIGTERM)
    chain = previous if callable(previous) and current_process().name == "MainProcess" else None

    def handler(signum: int, frame: FrameType | None) -> None:
        requested.set()
        if chain is not None:
            chain(signum, frame)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield requested.is_set
    finally:
        signal.signal(signal.SIGTERM, previous)
