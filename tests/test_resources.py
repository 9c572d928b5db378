"""Memory and CPU limits read from cgroup files (v2 and v1) the test writes, and the host."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from tasksched.resources import MB, Cgroup, HostMonitor, memory_reading
from tests.helpers import wait_for

GB = 1024 * 1024 * 1024


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return root


def proc_cgroup(tmp_path: Path, text: str) -> str:
    path = tmp_path / "proc-self-cgroup"
    path.write_text(text)
    return str(path)


def test_v2_container_root_limit_less_reclaimable_cache(tmp_path: Path) -> None:
    root = write(tmp_path / "cg", {
        "cgroup.controllers": "cpu memory", "memory.max": str(3 * GB),
        "memory.current": str(1 * GB), "memory.stat": f"anon 1\ninactive_file {256 * 1024 * 1024}",
        "cpu.max": "150000 100000",
    })  # fmt: skip
    group = Cgroup(str(root), proc_cgroup(tmp_path, "0::/\n"))
    assert group.version == 2
    available, limit, level = group.memory()  # type: ignore[misc]
    assert limit == 3072 and available == 3072 - 1024 + 256 and level == root
    cpus, _ = group.cpu_quota()  # type: ignore[misc]
    assert cpus == 1.5
    reading = memory_reading(group)
    assert reading.limit_mb == 3072  # this machine has more
    assert reading.source == f"cgroup v2 memory.max ({root})"


def test_v2_nested_path_the_tightest_ancestor_wins_and_max_means_none(tmp_path: Path) -> None:
    root = write(tmp_path / "cg", {
        "cgroup.controllers": "memory",
        "a/memory.max": str(2 * GB), "a/memory.current": str(GB // 2),
        "a/b/memory.max": "max", "a/b/memory.current": str(GB // 4),
        "a/b/cpu.max": "max 100000",
    })  # fmt: skip
    group = Cgroup(str(root), proc_cgroup(tmp_path, "0::/a/b\n"))
    assert group.memory_dirs == [root / "a" / "b", root / "a", root]
    available, limit, level = group.memory()  # type: ignore[misc]
    assert (limit, available, level) == (2048, 1536, root / "a")
    assert group.cpu_quota() is None


def test_v2_a_path_missing_under_the_root_is_the_container_s_own(tmp_path: Path) -> None:
    # Without a cgroup namespace the process's path names the host's hierarchy; the root
    # mounted in the container is its own cgroup.
    root = write(tmp_path / "cg", {"cgroup.controllers": "memory",
                                   "memory.max": str(GB), "memory.current": "0"})  # fmt: skip
    group = Cgroup(str(root), proc_cgroup(tmp_path, "0::/system.slice/docker-abc.scope\n"))
    assert group.memory_dirs == [root]
    assert group.memory() == (1024.0, 1024.0, root)


def test_v1_limit_usage_and_unlimited(tmp_path: Path) -> None:
    root = write(tmp_path / "cg", {
        "memory/memory.limit_in_bytes": "9223372036854771712",  # v1's "no limit"
        "memory/x/memory.limit_in_bytes": str(GB),
        "memory/x/memory.usage_in_bytes": str(GB // 2),
        "memory/x/memory.stat": f"cache 5\ntotal_inactive_file {GB // 4}",
        "cpu/x/cpu.cfs_quota_us": "50000", "cpu/x/cpu.cfs_period_us": "100000",
        "cpuacct/x/cpuacct.usage": str(3 * 10**9),
    })  # fmt: skip
    text = "4:memory:/x\n2:cpu,cpuacct:/x\n0::/\n"
    group = Cgroup(str(root), proc_cgroup(tmp_path, text))
    assert group.version == 1
    assert group.memory() == (768.0, 1024.0, root / "memory" / "x")
    cpus, level = group.cpu_quota()  # type: ignore[misc]
    assert cpus == 0.5 and group.cpu_usage_s(level) == 3.0
    assert "cgroup v1 memory.limit_in_bytes" in group.memory_source(root / "memory" / "x")


def test_v1_without_limits_reads_the_host(tmp_path: Path) -> None:
    root = write(tmp_path / "cg", {"memory/memory.limit_in_bytes": "9223372036854771712",
                                   "memory/memory.usage_in_bytes": str(GB)})  # fmt: skip
    group = Cgroup(str(root), proc_cgroup(tmp_path, "4:memory:/\n"))
    assert group.memory() is None
    reading = memory_reading(group)
    assert reading.source == "host"
    assert reading.limit_mb == pytest.approx(psutil.virtual_memory().total / MB)


def test_no_cgroup_files_at_all(tmp_path: Path) -> None:
    group = Cgroup(str(tmp_path / "nothing"), proc_cgroup(tmp_path, ""))
    assert group.version == 0 and group.memory() is None and group.cpu_quota() is None
    assert memory_reading(group).source == "host"


def test_a_limit_above_the_host_s_reads_the_host(tmp_path: Path) -> None:
    huge = str(1 << 50)
    root = write(tmp_path / "cg", {"cgroup.controllers": "memory", "memory.max": huge,
                                   "memory.current": "0"})  # fmt: skip
    assert memory_reading(Cgroup(str(root), proc_cgroup(tmp_path, "0::/\n"))).source == "host"


def test_the_monitor_reads_cpu_as_the_cgroup_s_share_of_its_quota(tmp_path: Path) -> None:
    # One CPU allowed, and the cgroup uses all of it (its usage counter grows with the clock):
    # 100% whatever the host's CPU use is. (This process's own cgroup path, whatever it is,
    # leads up to the root the test wrote.)
    root = write(tmp_path / "cg", {"cgroup.controllers": "cpu", "cpu.max": "100000 100000",
                                   "cpu.stat": "usage_usec 0"})  # fmt: skip
    start = time.monotonic()
    monitor = HostMonitor(0.05, cgroup_root=str(root))
    try:
        # The counter stands still: 0%, whatever the host does meanwhile.
        wait_for(lambda: monitor.cpu_percent == 0.0, 10, 0.01, what="an idle cgroup")
        start = time.monotonic()

        def full() -> bool:
            used_us = int((time.monotonic() - start) * 1e6)
            (root / "cpu.stat").write_text(f"usage_usec {used_us}\n")
            return (monitor.cpu_percent or 0) > 80

        wait_for(full, 10, 0.01, what="the cgroup's CPU share")
        assert monitor.cpu_percent is not None and monitor.cpu_percent <= 100.0
    finally:
        monitor.stop()
