"""Prometheus metrics read from Redis at scrape time, so every API process reports the same.

A custom collector turns :meth:`SchedulerManager.system_status` into metric families; nothing
is counted in the API process itself.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tasksched.manager import SchedulerManager

# system_status()["runs"] counter -> outcome label
_OUTCOMES = {
    "total_runs": "all",
    "successful_runs": "succeeded",
    "failed_runs": "failed",
    "skipped_runs": "skipped",
    "rejected_runs": "rejected",
    "interrupted_runs": "interrupted",
    "lost_runs": "lost",
    "missed_runs": "missed",
}


class StoreCollector(Collector):
    """Reads the system status from Redis on each ``collect()``."""

    def __init__(self, manager: SchedulerManager):
        self._manager = manager

    def collect(self) -> Iterator[Metric]:
        """One scrape: every family from one ``system_status()`` read."""
        s = self._manager.system_status()
        beat = s["beat"]
        yield GaugeMetricFamily(
            "tasksched_scheduler_enabled",
            "1 when dispatching is on (the global switch)",
            value=1.0 if s["enabled"] else 0.0,
        )
        yield GaugeMetricFamily(
            "tasksched_beat_leader_present",
            "1 when a beat process holds the leader lease",
            value=1.0 if beat["leader_present"] else 0.0,
        )
        if beat.get("dispatch_lag_s") is not None:
            yield GaugeMetricFamily(
                "tasksched_dispatch_lag_seconds",
                "how late the last dispatched batch was sent after its fire time",
                value=float(beat["dispatch_lag_s"]),
            )
        if beat.get("lag_s") is not None:
            yield GaugeMetricFamily(
                "tasksched_due_backlog_seconds",
                "how far past its fire time the earliest due schedule was at the last tick",
                value=float(beat["lag_s"]),
            )
        if beat.get("last_tick_age_s") is not None:
            yield GaugeMetricFamily(
                "tasksched_beat_last_tick_age_seconds",
                "seconds since the leader's last tick",
                value=float(beat["last_tick_age_s"]),
            )
        for name, help_text in (
            ("dispatched_total", "runs dispatched by beat"),
            ("missed_total", "fires recorded as missed (misfire policy, switch off)"),
        ):
            if beat.get(name) is not None:
                yield CounterMetricFamily(
                    "tasksched_" + name.removesuffix("_total"), help_text, value=beat[name]
                )
        yield GaugeMetricFamily(
            "tasksched_workers_online",
            "workers with a recent heartbeat",
            value=float(s["workers_online"]),
        )
        schedules = GaugeMetricFamily(
            "tasksched_schedules", "schedules by status", labels=["status"]
        )
        for st in ("active", "paused"):
            schedules.add_metric([st], float(s["schedules"].get(st, 0)))
        yield schedules
        queues = GaugeMetricFamily("tasksched_queue_depth", "messages waiting", labels=["queue"])
        for name, depth in s["queues"].items():
            if depth is not None:
                queues.add_metric([name], float(depth))
        yield queues
        runs = CounterMetricFamily(
            "tasksched_runs",
            "runs finished, by outcome (global counters kept by the workers)",
            labels=["outcome"],
        )
        for field, outcome in _OUTCOMES.items():
            runs.add_metric([outcome], float(s["runs"].get(field, 0)))
        yield runs
        events = CounterMetricFamily(
            "tasksched_events",
            "global counters kept in Redis (name, detail such as a channel)",
            labels=["name", "detail"],
        )
        for key, value in sorted(s.get("counters", {}).items()):
            name, _, detail = key.partition(":")
            events.add_metric([name, detail], float(value))
        yield events


def render(manager: SchedulerManager) -> tuple[bytes, str]:
    """The Prometheus text exposition of one scrape, and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(manager))
    return generate_latest(registry), CONTENT_TYPE_LATEST
