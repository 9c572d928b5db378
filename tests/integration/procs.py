"""Real worker and beat processes for the integration tests (stopped by their owner)."""

from __future__ import annotations

import sys
from pathlib import Path

from tasksched.store import Store
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import TEST_LEARNERS, Proc, child_env, wait_for


def start_worker(
    root: Path,
    name: str,
    redis_url: str,
    store: Store,
    queue: str = "training",
    concurrency: int = 1,
    **env: str,
) -> Proc:
    """``celery -A tasksched worker`` (prefork) named ``name@host``; waits for its heartbeat.

    Only the variables given are set beyond the store, the key and the state directory: the
    lock TTL, the heartbeat and the rest keep their documented defaults unless a test says.
    """
    environment = child_env(
        TASKSCHED_REDIS_URL=redis_url,
        TASKSCHED_SECRET_KEY=TEST_SECRET_KEY,
        TASKSCHED_STATE_DIR=str(root / "state"),
        TASKSCHED_TRAINING_QUEUE=queue,
        TASKSCHED_LEARNERS=TEST_LEARNERS,
        **env,
    )
    args = [
        sys.executable, "-m", "celery", "-A", "tasksched", "worker", "-Q", queue,
        "-n", f"{name}@%h", "-c", str(concurrency), "--pool", "prefork", "-l", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    proc = Proc(args, environment, root / f"{name}.log")

    def up() -> bool:
        return any(node.startswith(f"{name}@") for node in store.control.workers())

    try:
        wait_for(up, 40, what=f"worker {name} heartbeat")
    except AssertionError:
        proc.stop()
        raise AssertionError(proc.output()[-3000:]) from None
    return proc
