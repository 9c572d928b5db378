"""Failover benchmark: the beat leader SIGKILLed, again and again, with the default settings.

    .venv/bin/python bench/failover.py              # 5 kills
    .venv/bin/python bench/failover.py --kills 3

A throwaway redis-server (also the broker), 20 schedules firing every second, two real
``celery -A tasksched beat`` processes with the documented defaults (no TASKSCHED_BEAT_*
variable). This process pops the ``training`` list continuously and notes when each message
arrived. Each round: a steady stretch, then the leader is SIGKILLed (no clean release: its
lease must run out) and a fresh standby is started, so two beats run again. The kill comes at
a random point of a second (seeded, ``--seed``): how long before the kill the last fire went
out is part of the gap, and a fixed point would measure one case only.

Per kill it prints:
* takeover: from the SIGKILL to the first message dispatched by the new leader;
* dispatch gap: the longest time between two consecutive arrivals around the kill (1 s while
  all is well: the schedules fire every second);
* worst lateness: arrival minus fire time, worst fire of the failover window.
At the end: fires per schedule (expected vs received), duplicates and missed fire seconds over
the whole run, and the medians of the per-kill figures. Goal: takeover within 3 s, 0
duplicates, 0 missed.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench._machine import machine, median, redis_server  # noqa: E402
from tasksched.manager import SchedulerManager  # noqa: E402
from tasksched.settings import Settings  # noqa: E402

EVERY_SECOND = "* * * * * *"


class Consumer(threading.Thread):
    """Pops the broker list and notes (run id, schedule id, fire time, arrival, publisher pid)
    per message; the publisher is the ``origin`` header Celery writes (``gen<pid>@<host>``)."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url)
        self.seen: list[tuple[str, str, float, float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            got = self.client.brpop(["training"], timeout=0.2)
            if got is None:
                continue
            arrived = time.time()
            env = json.loads(got[1])
            _args, kwargs, _ = json.loads(base64.b64decode(env["body"]))
            origin = int(env["headers"]["origin"].removeprefix("gen").split("@")[0])
            self.seen.append((kwargs["run_id"], kwargs["schedule_id"], kwargs["fire_time"],
                              arrived, origin))  # fmt: skip


def start_beat(url: str, workdir: Path, name: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKSCHED_")}
    env.update(TASKSCHED_REDIS_URL=url, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tasksched", "beat", "-l", "WARNING",
         "--schedule", str(workdir / f"{name}-schedule")],
        cwd=ROOT, env=env, stdout=(workdir / f"{name}.log").open("wb"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def leader_pid(client: redis.Redis) -> int | None:
    token = client.get("{tasksched}:lock:beat")
    if token is None:
        return None
    return int(token.decode().split(":")[2])  # beat:<host>:<pid>:<random>


def wait(predicate: object, timeout_s: float, what: str) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()  # type: ignore[operator]
        if value:
            return value
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--schedules", type=int, default=20)
    ap.add_argument("--steady-s", type=float, default=4.0, help="steady time before each kill")
    ap.add_argument("--seed", type=int, default=1, help="of the kills' points within a second")
    args = ap.parse_args()
    print(machine())
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    workdir = Path(tempfile.mkdtemp(prefix="bench-failover-"))
    with redis_server() as url:
        client = redis.Redis.from_url(url)
        beats = {pid: p for p in (start_beat(url, workdir, f"b{i}") for i in range(2))
                 for pid in [p.pid]}  # fmt: skip
        consumer = Consumer(url)
        consumer.start()
        try:
            wait(lambda: leader_pid(client), 30, "a leader")
            mgr = SchedulerManager(settings=Settings(redis_url=url))
            created = {mgr.create_training_schedule("bench", f"s{i}", EVERY_SECOND): time.time()
                       for i in range(args.schedules)}  # fmt: skip
            kills: list[tuple[float, int]] = []
            rng = random.Random(args.seed)
            for k in range(args.kills):
                time.sleep(args.steady_s)  # steady dispatching (the measurement window)
                time.sleep((rng.random() - time.time()) % 1.0)  # to a random point of a second
                pid = wait(lambda: leader_pid(client), 10, "a leader")
                assert isinstance(pid, int) and pid in beats
                os.killpg(pid, signal.SIGKILL)
                killed_at = time.time()
                beats.pop(pid).wait(5)
                kills.append((killed_at, pid))
                new = start_beat(url, workdir, f"b{k + 2}")  # two beats again
                beats[new.pid] = new
                wait(lambda p=pid: leader_pid(client) not in (None, p), 15, "a new leader")
            time.sleep(args.steady_s)
        finally:
            for p in beats.values():
                p.terminate()
            for p in beats.values():
                p.wait(15)
            time.sleep(0.5)
            consumer.stop.set()
            consumer.join(2)
        due = {sid: float(client.zscore("{tasksched}:due", sid) or 0) for sid in created}
        client.close()
    report(consumer.seen, created, due, kills)
    print(f"beat logs: {workdir}")


def report(
    seen: list[tuple[str, str, float, float, int]],
    created: dict[str, float],
    due: dict[str, float],
    kills: list[tuple[float, int]],
) -> None:
    counts = Counter(m[0] for m in seen)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    by_schedule: dict[str, set[int]] = defaultdict(set)
    for _run_id, sid, fire, _at, _pid in seen:
        by_schedule[sid].add(round(fire))
    expected = {sid: set(range(math.floor(at) + 1, int(due[sid]))) for sid, at in created.items()}
    missed = sum(len(expected[sid] - by_schedule[sid]) for sid in created)
    fires = sorted(len(by_schedule[sid]) for sid in created)
    want = sorted(len(expected[sid]) for sid in created)
    takeovers, gaps, late = [], [], []
    for killed_at, pid in kills:
        last_old = max((at for *_, at, p in seen if p == pid), default=killed_at)
        first_new = min((at for *_, at, p in seen if p != pid and at > killed_at),
                        default=float("nan"))  # fmt: skip
        # Fires due while no beat led: dispatched late by the new leader.
        worst = max((at - fire for _r, _s, fire, at, p in seen if p != pid
                     and last_old - 1 <= fire <= first_new), default=float("nan"))  # fmt: skip
        takeovers.append(first_new - killed_at)
        gaps.append(first_new - last_old)
        late.append(worst)
        print(f"kill at {time.strftime('%H:%M:%S', time.localtime(killed_at))}"
              f"+{killed_at % 1:.2f}: takeover "
              f"{first_new - killed_at:.2f} s, dispatch gap {first_new - last_old:.2f} s, "
              f"worst lateness {worst:.2f} s")
    print(f"fires per schedule: received {fires[0]}-{fires[-1]}, expected {want[0]}-{want[-1]}; "
          f"messages {len(seen)}, duplicates {duplicates}, missed fire seconds {missed}")
    print(f"medians over {len(kills)} kills: takeover {median(takeovers):.2f} s (max "
          f"{max(takeovers):.2f} s), dispatch gap {median(gaps):.2f} s (max {max(gaps):.2f} s), "
          f"worst lateness {median(late):.2f} s (goal: takeover within 3 s, 0 duplicates, "
          f"0 missed)")


if __name__ == "__main__":
    main()
