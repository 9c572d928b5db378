"""Pre-run check 5 on a worker: admit a run only when its budget fits beside the runs this host
already admitted (docs/worker.md, "Admission: budgets add up").

The decision is :func:`tasksched.safety.check_resources` (pure arithmetic) on this process's
readings (:mod:`tasksched.resources`: the host, or its cgroup when tighter) and on the host's
ledger (:mod:`tasksched.store.admission`), which makes it hold across a worker's pool
processes: each admission reads the ledger, decides and writes its entry in one WATCH/MULTI.
"""

from __future__ import annotations

import os
import socket

from tasksched import safety
from tasksched.resources import HostMonitor, children_rss_mb
from tasksched.safety import Decision
from tasksched.settings import Settings
from tasksched.store import Store
from tasksched.store.admission import AdmissionLedger, Entry

__all__ = ["Admission"]


class Admission:
    """Check 5 for one worker process; :meth:`release` when the run's attempt is over."""

    def __init__(self, store: Store, settings: Settings, monitor: HostMonitor):
        self.settings = settings
        self.monitor = monitor
        # Longer than any run takes here (the hash's TTL, refreshed at each admission).
        ttl_s = settings.effective_visibility_timeout_s + settings.training_kill_grace_s + 600
        self.ledger = AdmissionLedger(store, socket.gethostname(), ttl_s)
        self._admitted: set[str] = set()

    def check(
        self,
        run_id: str,
        schedule_id: str,
        worker: str,
        token: str,
        limits: safety.Limits,
        now: float,
        deadline: float,
        deferrals: int,
    ) -> Decision:
        """The decision; on START the run's entry is in the ledger (atomically with every
        other pool process's admission on this host)."""
        decided: list[Decision] = []

        def decide(live: list[Entry]) -> bool:
            admitted = [
                safety.Admitted(e.run_id, e.budget_mb, children_rss_mb(e.pid), e.node == worker)
                for e in live
            ]
            d = safety.check_resources(
                self.monitor.reading(), limits, now, deadline, self.settings.defer_backoff_s,
                deferrals, admitted,
            )  # fmt: skip
            decided.append(d)
            return d.ok

        entry = Entry(run_id, worker, limits.memory_mb, os.getpid(), token, schedule_id, now)
        if self.ledger.admit(entry, decide):
            self._admitted.add(run_id)
        return decided[-1]

    def release(self, run_id: str) -> None:
        """The run's attempt is over: its admitted budget is free again (no-op if none)."""
        if run_id in self._admitted:
            self._admitted.discard(run_id)
            self.ledger.release(run_id)
