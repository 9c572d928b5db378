"""Shared bits of the examples: the manager from the environment, waiting for a run, output.

Every example runs against a running ``tasksched up`` (or any tasksched): in the shell that
runs it, ``. ~/.local/state/tasksched/up.env`` first, so ``TASKSCHED_REDIS_URL`` and
``TASKSCHED_SECRET_KEY`` are set. Each example uses its own tenant and deletes what it made.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from tasksched import SchedulerManager


def manager() -> SchedulerManager:
    """The scheduler on ``TASKSCHED_REDIS_URL``; a clear exit when it is not set."""
    if not os.environ.get("TASKSCHED_REDIS_URL"):
        sys.exit(
            "TASKSCHED_REDIS_URL is not set: start `./run.sh` (tasksched up) and, in this "
            "shell, `. ~/.local/state/tasksched/up.env`"
        )
    return SchedulerManager()


def section(title: str) -> None:
    """A heading in the example's output."""
    print(f"\n== {title}")


def show_run(run: dict[str, Any]) -> None:
    """One line per run: status, scores, time, reason."""
    scores = []
    for key in ("quality_score", "validation_score"):
        value = run.get(key)
        if isinstance(value, float):
            scores.append(f"{key.removesuffix('_score')}={value:.3f}")
    took = run.get("duration_s")
    took_text = f"{took:.1f}s" if isinstance(took, float) else "-"
    print(f"  run {run['run_id']}: {run['status']} {' '.join(scores)} {took_text} "
          f"- {run.get('reason') or ''}")  # fmt: skip


def clean_tenant(m: SchedulerManager, tenant_id: str) -> None:
    """Delete the tenant's schedules (an example starts from nothing and leaves nothing)."""
    for item in m.list_schedules(tenant_id):
        m.delete_schedule(str(item["id"]))
