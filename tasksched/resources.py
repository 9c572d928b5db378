"""This host's resources, read with psutil: CPU sampled in the background, memory on demand.

* :class:`HostMonitor` - a daemon thread samples system CPU use every ``interval_s`` (a task
  never blocks on a one-second sample); :meth:`HostMonitor.reading` is instant.
* :func:`tree_rss_mb` - the resident memory of a process and its children (the training
  child's memory watchdog).
"""

from __future__ import annotations

import os
import threading

import psutil

from tasksched.safety import HostReading

__all__ = ["HostMonitor", "cpu_percent_now", "memory_mb", "process_rss_mb", "tree_rss_mb"]

MB = 1024.0 * 1024.0


def memory_mb() -> tuple[float, float]:
    """(available, total) system memory in MB."""
    vm = psutil.virtual_memory()
    return vm.available / MB, vm.total / MB


def cpu_percent_now(interval_s: float = 0.1) -> float:
    """System CPU use sampled over ``interval_s`` (blocks that long)."""
    return float(psutil.cpu_percent(interval=interval_s))


def process_rss_mb() -> float:
    """Resident memory of this process in MB."""
    return psutil.Process().memory_info().rss / MB


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants in MB (0 when it is gone)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total / MB


class HostMonitor:
    """Background CPU sampling for this process's host (one per process, see :meth:`get`)."""

    _instance: HostMonitor | None = None
    _instance_pid: int = 0
    _lock = threading.Lock()

    def __init__(self, interval_s: float = 1.0):
        self.interval_s = max(interval_s, 0.05)
        self._cpu: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tasksched-cpu", daemon=True)
        psutil.cpu_percent(interval=None)  # primes the counter; the first value is meaningless
        self._thread.start()

    @classmethod
    def get(cls, interval_s: float = 1.0) -> HostMonitor:
        """The process-wide monitor, started on first use (again after a fork)."""
        with cls._lock:
            if cls._instance is None or cls._instance_pid != os.getpid():
                cls._instance = HostMonitor(interval_s)
                cls._instance_pid = os.getpid()
            return cls._instance

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._cpu = float(psutil.cpu_percent(interval=None))

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()

    @property
    def cpu_percent(self) -> float | None:
        """System CPU use over the last interval, None before the first sample."""
        return self._cpu

    def reading(self) -> HostReading:
        """Available memory now and the latest CPU sample."""
        available, _ = memory_mb()
        return HostReading(memory_available_mb=available, cpu_percent=self._cpu)
