"""This host's resources: memory and CPU from this process's cgroup (v2 or v1) when it has
limits, else from the host (psutil); CPU sampled in the background, memory on demand.

* :class:`Cgroup` - the limits of the cgroup this process is in, read from the files under
  ``TASKSCHED_CGROUP_ROOT`` (default ``/sys/fs/cgroup``): v2 ``memory.max``,
  ``memory.current``, ``memory.stat``, ``cpu.max``, ``cpu.stat``; v1 ``memory.limit_in_bytes``,
  ``memory.usage_in_bytes``, ``memory.stat``, ``cpu.cfs_quota_us``, ``cpu.cfs_period_us``,
  ``cpuacct.usage``. A container's limit is what the kernel's OOM killer enforces, not the
  host's free memory.
* :func:`memory_reading` - available memory and the limit, the tighter of the host and the
  cgroup (and its ancestors), with where the figure comes from.
* :class:`HostMonitor` - a daemon thread samples CPU use every ``interval_s`` (a task never
  blocks on a one-second sample): the cgroup's use of its CPU quota when it has one, else the
  host's; :meth:`HostMonitor.reading` is instant.
* :func:`tree_rss_mb` - the resident memory of a process and its children (the training
  child's memory watchdog, and what an admitted run already uses).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from tasksched.safety import HostReading

__all__ = [
    "Cgroup",
    "HostMonitor",
    "MemoryReading",
    "cgroup",
    "children_rss_mb",
    "cpu_percent_now",
    "memory_mb",
    "memory_reading",
    "process_rss_mb",
    "tree_rss_mb",
]

MB = 1024.0 * 1024.0
DEFAULT_CGROUP_ROOT = "/sys/fs/cgroup"
# cgroup v1 writes "no limit" as a huge number (PAGE_COUNTER_MAX pages): this large is none.
_UNLIMITED_BYTES = 1 << 60


@dataclass(frozen=True)
class MemoryReading:
    """Available memory and the limit it is under (MB), and where the figures come from."""

    available_mb: float
    limit_mb: float
    source: str  # "host", or e.g. "cgroup v2 memory.max (/sys/fs/cgroup)"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _number(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None  # "max" (v2: no limit), or unreadable


def _stat(path: Path, *names: str) -> int:
    """The first of ``names`` found in a ``key value`` stat file (0 when none is)."""
    rows = dict(line.split(" ", 1) for line in (_read(path) or "").splitlines() if " " in line)
    for name in names:
        value = _number(rows.get(name))
        if value is not None:
            return value
    return 0


class Cgroup:
    """The cgroup this process is in, under ``root`` (v2 unified, or v1's ``memory`` and
    ``cpu`` hierarchies); ``version`` 0 when there is none to read.

    The levels are this process's own cgroup and each ancestor up to the root, innermost
    first, those that exist under ``root`` (inside a container the process's path often does
    not: the container's own cgroup is mounted as the root). Limits nest: the tightest wins.
    """

    def __init__(self, root: str = DEFAULT_CGROUP_ROOT, proc_cgroup: str = "/proc/self/cgroup"):
        self.root = Path(root)
        paths = self._paths(_read(Path(proc_cgroup)) or "")
        if (self.root / "cgroup.controllers").exists():
            self.version = 2
            self.memory_dirs = self._levels(self.root, paths.get("", "/"))
            self.cpu_dirs = self.memory_dirs
        elif (self.root / "memory").is_dir() or (self.root / "cpu").is_dir():
            self.version = 1
            self.memory_dirs = self._levels(self.root / "memory", paths.get("memory", "/"))
            self.cpu_dirs = self._levels(self.root / "cpu", paths.get("cpu", "/"))
        else:
            self.version = 0
            self.memory_dirs = self.cpu_dirs = []

    @staticmethod
    def _paths(text: str) -> dict[str, str]:
        """Controller -> path from ``/proc/self/cgroup`` (``""``: the v2 unified line)."""
        out: dict[str, str] = {}
        for line in text.splitlines():
            parts = line.split(":", 2)
            if len(parts) == 3:
                for controller in parts[1].split(","):
                    out.setdefault(controller, parts[2])
        return out

    @staticmethod
    def _levels(base: Path, path: str) -> list[Path]:
        rel = Path(path.lstrip("/"))
        dirs = [base / rel, *[base / p for p in rel.parents]]
        seen: list[Path] = []
        for d in dirs:
            if d.is_dir() and d not in seen:
                seen.append(d)
        return seen

    def memory(self) -> tuple[float, float, Path] | None:
        """(available MB, limit MB, level) at the level with the least available memory among
        those with a limit; None without any limit.

        Used memory is ``memory.current`` (v1 ``memory.usage_in_bytes``) less the inactive
        file cache, which the kernel reclaims before it OOM-kills (as the kubelet counts it).
        """
        best: tuple[float, float, Path] | None = None
        v2 = self.version == 2
        for d in self.memory_dirs:
            limit = _number(_read(d / ("memory.max" if v2 else "memory.limit_in_bytes")))
            if limit is None or limit >= _UNLIMITED_BYTES:
                continue  # no limit here (the usual case at most levels): nothing more to read
            used = _number(_read(d / ("memory.current" if v2 else "memory.usage_in_bytes")))
            cache = _stat(d / "memory.stat", *(("inactive_file",) if v2 else
                                               ("total_inactive_file", "inactive_file")))
            in_use = max((used or 0) - cache, 0)
            available = max(limit - in_use, 0) / MB
            if best is None or available < best[0]:
                best = (available, limit / MB, d)
        return best

    def memory_source(self, level: Path) -> str:
        """How a reading from ``level`` is named in reasons and logs."""
        name = "memory.max" if self.version == 2 else "memory.limit_in_bytes"
        return f"cgroup v{self.version} {name} ({level})"

    def cpu_quota(self) -> tuple[float, Path] | None:
        """(CPUs allowed, level) at the tightest level with a quota; None without any."""
        best: tuple[float, Path] | None = None
        for d in self.cpu_dirs:
            if self.version == 2:
                quota_s, _, period_s = (_read(d / "cpu.max") or "max").partition(" ")
                quota, period = _number(quota_s), _number(period_s)
            else:
                quota = _number(_read(d / "cpu.cfs_quota_us"))
                period = _number(_read(d / "cpu.cfs_period_us"))
            if quota is None or quota <= 0 or not period:
                continue
            cpus = quota / period
            if best is None or cpus < best[0]:
                best = (cpus, d)
        return best

    def cpu_usage_s(self, level: Path) -> float | None:
        """CPU seconds used by the cgroup at ``level`` (v1: its ``cpuacct`` twin) so far."""
        if self.version == 2:
            usec = _stat(level / "cpu.stat", "usage_usec")
            return usec / 1e6 if (level / "cpu.stat").exists() else None
        rel = level.relative_to(self.root / "cpu")
        for d in (self.root / "cpuacct" / rel, level):
            ns = _number(_read(d / "cpuacct.usage"))
            if ns is not None:
                return ns / 1e9
        return None


_CGROUPS: dict[str, Cgroup] = {}


def cgroup(root: str | None = None) -> Cgroup:
    """This process's :class:`Cgroup` under ``root`` (default ``TASKSCHED_CGROUP_ROOT``)."""
    if root is None:
        from tasksched.settings import get_settings

        root = get_settings().cgroup_root
    found = _CGROUPS.get(root)
    if found is None:
        found = _CGROUPS[root] = Cgroup(root)
    return found


def memory_reading(group: Cgroup | None = None) -> MemoryReading:
    """Available memory and its limit: the host's, or the cgroup's where that is tighter."""
    group = group or cgroup()
    vm = psutil.virtual_memory()
    host = MemoryReading(vm.available / MB, vm.total / MB, "host")
    found = group.memory()
    if found is None:
        return host
    available, limit, level = found
    if available >= host.available_mb and limit >= host.limit_mb:
        return host
    return MemoryReading(
        min(available, host.available_mb), min(limit, host.limit_mb), group.memory_source(level)
    )


def memory_mb() -> tuple[float, float]:
    """(available, total) memory in MB: the host's, or this process's cgroup's when tighter."""
    m = memory_reading()
    return m.available_mb, m.limit_mb


def cpu_percent_now(interval_s: float = 0.1) -> float:
    """System CPU use sampled over ``interval_s`` (blocks that long)."""
    return float(psutil.cpu_percent(interval=interval_s))


def process_rss_mb() -> float:
    """Resident memory of this process in MB."""
    return psutil.Process().memory_info().rss / MB


def _rss_mb(procs: list[psutil.Process]) -> float:
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:  # ended meanwhile
            continue
    return total / MB


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants in MB (0 when it is gone)."""
    try:
        proc = psutil.Process(pid)
        return _rss_mb([proc, *proc.children(recursive=True)])
    except psutil.Error:
        return 0.0


def children_rss_mb(pid: int) -> float:
    """Resident memory of ``pid``'s descendants in MB (a pool process's training child; 0
    when it has none or is gone)."""
    try:
        return _rss_mb(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return 0.0


class HostMonitor:
    """Background CPU sampling for this process's host (one per process, see :meth:`get`)."""

    _instance: HostMonitor | None = None
    _instance_pid: int = 0
    _lock = threading.Lock()

    def __init__(self, interval_s: float = 1.0, cgroup_root: str | None = None):
        self.interval_s = max(interval_s, 0.05)
        self.cgroup = cgroup(cgroup_root)
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
        # With a CPU quota (a container's --cpus) the host's figure says nothing about this
        # cgroup's saturation: its use of the quota is the figure, 100% when it is throttled.
        quota = self.cgroup.cpu_quota()
        last = (time.monotonic(), self.cgroup.cpu_usage_s(quota[1])) if quota else None
        while not self._stop.wait(self.interval_s):
            if quota is not None and last is not None and last[1] is not None:
                now, used = time.monotonic(), self.cgroup.cpu_usage_s(quota[1])
                if used is not None and now > last[0]:
                    share = (used - last[1]) / ((now - last[0]) * quota[0])
                    self._cpu = min(max(share * 100.0, 0.0), 100.0)
                    last = (now, used)
                    continue
            self._cpu = float(psutil.cpu_percent(interval=None))

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()

    @property
    def cpu_percent(self) -> float | None:
        """System CPU use over the last interval, None before the first sample."""
        return self._cpu

    def reading(self) -> HostReading:
        """Available memory now (host or cgroup, :func:`memory_reading`) and the latest CPU
        sample."""
        m = memory_reading(self.cgroup)
        return HostReading(memory_available_mb=m.available_mb, cpu_percent=self._cpu,
                           memory_limit_mb=m.limit_mb, memory_source=m.source)  # fmt: skip
