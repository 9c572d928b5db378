"""What an operator checks first, assembled from Redis: the switch, beat, workers, totals.

Read now from the store, so every process (API, CLI, Python) shows the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tasksched.models import utc_iso

if TYPE_CHECKING:
    from tasksched.store import Store


def run_totals(counters: Mapping[str, int]) -> dict[str, int]:
    """Runs finished by outcome, named like a schedule's counters, from the global counters."""
    runs = {k.removeprefix("runs_"): v for k, v in counters.items() if k.startswith("runs_")}
    outcomes = ("succeeded", "failed", "skipped", "rejected", "interrupted")
    return {
        "total_runs": sum(runs.get(o, 0) for o in outcomes),
        "successful_runs": runs.get("succeeded", 0),
        "failed_runs": runs.get("failed", 0),
        "skipped_runs": runs.get("skipped", 0),
        "rejected_runs": runs.get("rejected", 0),
        "interrupted_runs": runs.get("interrupted", 0),
        # Attempts whose worker stopped (each re-run once): not failures, not outcomes.
        "lost_runs": runs.get("lost", 0),
        "missed_runs": runs.get("missed", 0),
    }


def read_scheduler_state(store: Store) -> dict[str, Any]:
    """The switch and beat's health (leader, last tick, lag)."""
    state = store.control.state()
    changed = state.get("changed_at")
    return {
        "enabled": state["enabled"],
        "running": state["enabled"],
        "changed_at": utc_iso(changed) if changed else None,
        "beat": store.control.beat_health(),
    }


def read_system_status(store: Store, worker_stale_s: float = 30.0) -> dict[str, Any]:
    """The whole status (see :meth:`tasksched.SchedulerManager.system_status`)."""
    now = store.time()
    counters = store.control.counters()
    state = read_scheduler_state(store)
    beat = state["beat"]
    last_tick = beat.get("last_tick")
    workers = []
    for host, reading in sorted(store.control.workers().items()):
        ts = reading.get("ts") if isinstance(reading, dict) else None
        age_s = now - float(ts) if isinstance(ts, int | float) else None
        online = age_s is not None and age_s <= worker_stale_s
        workers.append({"host": host, "online": online, "age_s": age_s, "readings": reading})
    return {
        "enabled": state["enabled"],
        "changed_at": state["changed_at"],
        "time": utc_iso(now),
        "beat": {
            "leader": beat.get("leader"),
            "leader_present": beat.get("leader") is not None,
            "last_tick": utc_iso(last_tick) if last_tick else None,
            "last_tick_age_s": now - last_tick if last_tick else None,
            "lag_s": beat.get("lag_s"),  # how late the due head is now
            "dispatch_lag_s": beat.get("dispatch_lag_s"),  # last batch: sent - fire time
            "dispatched_total": beat.get("dispatched_total"),
            "missed_total": beat.get("missed_total"),
            "beats_seen": beat.get("beats_seen", {}),
        },
        "workers": workers,
        "workers_online": sum(1 for w in workers if w["online"]),
        "schedules": store.schedules.count_by_status(),
        "queues": store.control.queue_depths(),
        "runs": run_totals(counters),
        "counters": counters,
    }
