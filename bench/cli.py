"""CLI and `tasksched up` timings (not a test): process start to result, and the embedded stack.

    .venv/bin/python bench/cli.py            # 15 CLI runs per command, 3 `up` cycles
    .venv/bin/python bench/cli.py --quick    # 5 and 1

Prints medians (and min/max) with the machine: cores, CPU model, Python.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._machine import machine  # noqa: E402
from tests.helpers import RedisServer, child_env  # noqa: E402

SCRIPT = str(Path(sys.executable).parent / "tasksched")


def summary(name: str, values_s: list[float]) -> None:
    ms = [v * 1000 for v in values_s]
    print(f"{name:44s} median {statistics.median(ms):8.1f} ms   "
          f"min {min(ms):8.1f}   max {max(ms):8.1f}   (n={len(ms)})")  # fmt: skip


def time_command(args: list[str], env: dict[str, str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([SCRIPT, *args], env=env, check=True, capture_output=True)
        out.append(time.perf_counter() - t0)
    return out


def up_cycle(workdir: Path) -> tuple[float, float, float]:
    """Seconds to 'ready.', to the first finished demo run, and from SIGINT to exit."""
    env = child_env()
    env["HOME"] = str(workdir)
    env["XDG_STATE_HOME"] = str(workdir / "state")
    log = workdir / "up.log"
    t0 = time.perf_counter()
    with open(log, "wb") as fh:
        proc = subprocess.Popen([SCRIPT, "up", "--api-port", "0"], env=env, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    ready = first = 0.0
    while time.perf_counter() - t0 < 180:
        text = log.read_text(errors="replace")
        if not ready and "ready." in text:
            ready = time.perf_counter() - t0
        if ready and any(w in text for w in (" succeeded ", " rejected ", " failed ")):
            first = time.perf_counter() - t0
            break
        time.sleep(0.05)
    t1 = time.perf_counter()
    os.kill(proc.pid, signal.SIGINT)
    proc.wait(120)
    return ready, first, time.perf_counter() - t1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    opts = parser.parse_args()
    runs, cycles = (5, 1) if opts.quick else (15, 3)
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis")
        server.start()
        try:
            env = child_env(TASKSCHED_REDIS_URL=server.url)
            from tasksched.manager import SchedulerManager

            mgr = SchedulerManager(redis_url=server.url)
            mgr.create_training_schedules(
                {"tenant_id": f"t{i % 10}", "name": f"s{i}", "cron_expression": "0 2 * * *"}
                for i in range(100)
            )
            mgr.store.redis.close()
            summary("tasksched --version", time_command(["--version"], env, runs))
            summary("tasksched cron '*/5 * * * *' -n 10",
                    time_command(["cron", "*/5 * * * *", "-n", "10"], env, runs))  # fmt: skip
            summary("tasksched schedule list (100 schedules)",
                    time_command(["schedule", "list"], env, runs))  # fmt: skip
            summary("tasksched schedule list --json (100)",
                    time_command(["schedule", "list", "--json"], env, runs))  # fmt: skip
        finally:
            server.stop()
        readies, firsts, stops = [], [], []
        for i in range(cycles):
            work = Path(tmp) / f"up{i}"
            work.mkdir()
            ready, first, stop = up_cycle(work)
            readies.append(ready)
            firsts.append(first)
            stops.append(stop)
        summary("tasksched up: start to 'ready.'", readies)
        summary("tasksched up: start to first finished run", firsts)
        summary("tasksched up: SIGINT to all stopped", stops)


if __name__ == "__main__":
    main()
