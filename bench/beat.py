"""Beat benchmark: idle tick cost, burst dispatch rate, memory, fire lateness.

    .venv/bin/python bench/beat.py            # the issue's figures (1,000,000 schedules: minutes)
    .venv/bin/python bench/beat.py --quick    # a smaller smoke run
    .venv/bin/python bench/beat.py --only 2 --repeat 3 --baseline main   # burst, new vs main

Against a real redis-server started here (free port), Redis also the broker; tasks are really
published (kombu's Redis list ``training``), read back by this process.

With ``--baseline REV`` the burst rounds alternate between this tree's beat and the beat of git
revision REV (``git archive`` into a temporary directory), same Redis, same machine, minutes
apart: on a shared machine only such a comparison separates the code from the load. Each round
prints the load average and the CPU time per run of the beat process and of redis-server (CPU
time, unlike wall time, hardly grows when other processes take the cores).

1. idle tick: N stored schedules, nothing due; median cost of ``Ticker.tick()`` (in process).
   Goal: <= 1 ms.
2. burst: N schedules due at the same second, a real ``celery -A tasksched beat`` process; time
   from the due second until all N messages are in the broker, median of ``--repeat`` rounds
   per size. Goal: 10,000 within 0.5 s, 100,000 within 3 s. Also printed: when the claims ahead
   of the second (docs/beat.md, step 7) began and ended, and the CPU per run from the end of
   the schedules' creation (the claims ahead included). A message in the broker before the
   second ends the bench.
3. memory: RSS of a real beat process with 10,000 vs 1,000,000 stored schedules (the start-up
   cron check off), then the start-up cron check's peak over 1,000,000. Goal: within 50 MB.
4. lateness: 1,000 schedules firing every second for 30 s; lateness = the time this process
   pops the message from the broker minus its fire time (p50, p99, max).
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import redis  # noqa: E402

from bench._machine import machine, median, pct, redis_server  # noqa: E402
from tasksched.beat.publisher import CeleryPublisher  # noqa: E402
from tasksched.beat.tick import Ticker  # noqa: E402
from tasksched.celery import create_app  # noqa: E402
from tasksched.models import AutonomousConfig, ScheduleSpec  # noqa: E402
from tasksched.settings import Settings  # noqa: E402
from tasksched.store import Store  # noqa: E402


def create(store: Store, n: int, cron: str, now: float | None = None) -> None:
    """``n`` schedules sharing one config object (the store's fast path)."""
    cfg = AutonomousConfig()
    chunk = 50_000
    for start in range(0, n, chunk):
        specs = [
            ScheduleSpec(tenant_id=f"t{i % 1000}", name=f"s{i}", cron_expression=cron, config=cfg)
            for i in range(start, min(n, start + chunk))
        ]
        store.schedules.create_many(specs, now=now)


def cron_at(epoch_s: int) -> str:
    """A daily cron firing at the UTC second ``epoch_s`` (seconds field last)."""
    t = datetime.fromtimestamp(epoch_s, UTC)
    return f"{t.minute} {t.hour} * * * {t.second}"


def start_beat(
    url: str, log: Path, root: Path = ROOT, **extra: str
) -> subprocess.Popen[bytes]:
    """A real ``celery -A tasksched beat`` process running the tasksched of ``root``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKSCHED_")}
    env.update(TASKSCHED_REDIS_URL=url, PYTHONUNBUFFERED="1", **extra)
    schedule_file = Path(tempfile.mkdtemp(prefix="bench-beat-")) / "schedule"
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tasksched", "beat", "-l", "INFO",
         "--schedule", str(schedule_file)],
        cwd=root, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def wait_leader(store: Store, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if store.redis.get(store.keys.beat_lock):
            return
        time.sleep(0.05)
    raise SystemExit("no beat leader came up")


# ---- 1. idle tick ---------------------------------------------------------------------------
def bench_idle(url: str, n: int, ticks: int) -> None:
    settings = Settings(redis_url=url)
    store = Store(settings=settings)
    store.redis.flushall()
    # A daily time 12 hours away: nothing is due while we measure.
    far = int(time.time()) + 12 * 3600
    t0 = time.perf_counter()
    create(store, n, cron_at(far))
    made_s = time.perf_counter() - t0
    d = Ticker(store, CeleryPublisher(create_app(settings), "training"), settings)
    for _ in range(50):
        d.tick()
    costs = []
    for _ in range(ticks):
        t = time.perf_counter()
        d.tick()
        costs.append((time.perf_counter() - t) * 1000)
    assert d.is_leader and d.stats.dispatched == 0
    d.close()
    print(
        f"[1] idle tick, {n:,} stored schedules ({made_s:.1f}s to create), nothing due: "
        f"median {median(costs):.3f} ms, p99 {pct(costs, 99):.3f} ms over {ticks} ticks "
        f"(goal <= 1 ms median)"
    )


# ---- 2. burst -------------------------------------------------------------------------------
def baseline_tree(rev: str, workdir: Path) -> Path:
    """The tree of git revision ``rev`` (for ``--baseline``), exported with ``git archive``."""
    dest = workdir / f"baseline-{rev.replace('/', '_')}"
    dest.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def redis_cpu_s(r: redis.Redis) -> float:
    """redis-server's main thread CPU time so far (user + system, seconds)."""
    info = r.info("cpu")
    return float(info["used_cpu_user_main_thread"]) + float(info["used_cpu_sys_main_thread"])


def bench_burst(url: str, n: int, workdir: Path, root: Path = ROOT, label: str = "") -> float:
    store = Store(settings=Settings(redis_url=url))
    store.redis.flushall()
    beat = start_beat(url, workdir / f"burst-{n}{label}.log", root)
    try:
        wait_leader(store)
        due = math.ceil(time.time() + 3 + n / 5_000)  # room to create them first
        create(store, n, cron_at(due))
        assert time.time() < due - 0.5, "creating took too long; the burst would start late"
        r = redis.Redis.from_url(url)
        proc = psutil.Process(beat.pid)
        # From here on the CPU counts (the claims ahead of a burst's second start before it).
        beat_cpu0, redis_cpu0 = sum(proc.cpu_times()[:2]), redis_cpu_s(r)
        staged_key = store.keys.beat_staged
        stage_start = stage_end = None
        while time.time() < due - 0.01:
            if r.llen("training"):
                raise SystemExit("a message reached the broker before its fire time")
            if stage_start is None and r.exists(staged_key):
                stage_start = time.time()
            if stage_start is not None and stage_end is None and r.llen(
                store.keys.beat_staged_list(repr(float(due)))
            ) >= n:
                stage_end = time.time()
            time.sleep(0.005)
        first = None
        while True:
            length = r.llen("training")
            now = time.time()
            if length and first is None:
                first = now
            if length >= n:
                done = now
                break
            if now > due + 120:
                raise SystemExit(f"only {length} of {n} published after 120 s")
            time.sleep(0.002)  # poll gently: this process shares the cores with beat and Redis
        assert first is not None
        beat_us = (sum(proc.cpu_times()[:2]) - beat_cpu0) / n * 1e6
        redis_us = (redis_cpu_s(r) - redis_cpu0) / n * 1e6
        load = os.getloadavg()[0]
        ahead = "not claimed ahead"
        if stage_start is not None:
            ahead = f"claimed ahead from {stage_start - due:+.2f} s, " + (
                f"all by {stage_end - due:+.2f} s" if stage_end is not None else "not all"
            )
        print(
            f"[2]{label} burst of {n:,} due at the same second: {ahead}; first in broker "
            f"{first - due:+.3f} s, all {n:,} in broker {done - due:.3f} s after due time; "
            f"CPU per run (claims included): beat {beat_us:.1f} us, redis {redis_us:.1f} us; "
            f"load {load:.2f} (goal: 10,000 within 0.5 s, 100,000 within 3 s)",
            flush=True,
        )
        r.close()
        return done - due
    finally:
        stop(beat)


def bench_bursts(url: str, sizes: list[int], rounds: int, workdir: Path,
                 baseline: str | None) -> None:  # fmt: skip
    """``rounds`` bursts per size; with ``baseline``, each round of this tree is followed by
    one of the baseline's, so both see the same machine."""
    trees = [("", ROOT)]
    if baseline:
        trees.append((f" [baseline {baseline}]", baseline_tree(baseline, workdir)))
    for n in sizes:
        took: dict[str, list[float]] = {label: [] for label, _ in trees}
        for _ in range(rounds):
            for label, root in trees:
                took[label].append(bench_burst(url, n, workdir, root, label))
        for label, values in took.items():
            print(
                f"[2]{label} burst of {n:,}: median {median(values):.3f} s from due time to "
                f"all in broker over {rounds} rounds"
            )
        if baseline:
            ratio = median(took[trees[0][0]]) / median(took[trees[1][0]])
            print(f"[2] burst of {n:,}: this tree / baseline {baseline} = {ratio:.2f}")


# ---- 3. memory ------------------------------------------------------------------------------
def beat_rss_mb(url: str, n: int, workdir: Path, cron_check: bool = False) -> tuple[float, float]:
    """(RSS after 5 s of ticking, peak RSS) of a real beat over ``n`` stored schedules.

    Without ``cron_check`` the start-up check of every stored cron expression
    (TASKSCHED_CRON_CHECK_AT_START, a one-off background read of all schedules) is off: the
    figure is the dispatching beat's own. With it, RSS is sampled until it settles.
    """
    store = Store(settings=Settings(redis_url=url))
    store.redis.flushall()
    create(store, n, cron_at(int(time.time()) + 12 * 3600))
    beat = start_beat(url, workdir / f"rss-{n}.log",
                      TASKSCHED_CRON_CHECK_AT_START="true" if cron_check else "false")
    try:
        wait_leader(store)
        proc = psutil.Process(beat.pid)
        samples: list[float] = []
        deadline = time.monotonic() + (120.0 if cron_check else 5.0)
        while time.monotonic() < deadline:
            time.sleep(0.5)  # ticking meanwhile, 4 ticks a second
            samples.append(float(proc.memory_info().rss) / 2**20)
            if cron_check and len(samples) > 6 and max(samples[-6:]) - min(samples[-6:]) < 1:
                break  # settled: the check is over
        return samples[-1], max(samples)
    finally:
        stop(beat)


def bench_memory(url: str, small: int, large: int, workdir: Path) -> None:
    rss_small, _ = beat_rss_mb(url, small, workdir)
    rss_large, _ = beat_rss_mb(url, large, workdir)
    print(
        f"[3] beat RSS: {rss_small:.1f} MB with {small:,} schedules, {rss_large:.1f} MB with "
        f"{large:,}: difference {rss_large - rss_small:+.1f} MB (goal: within 50 MB; the "
        f"start-up cron check off)"
    )
    settled, peak = beat_rss_mb(url, large, workdir, cron_check=True)
    print(
        f"[3] with the start-up cron check (the default) over {large:,} schedules: peak "
        f"{peak:.1f} MB while it reads them, {settled:.1f} MB once it is done"
    )


# ---- 4. lateness ----------------------------------------------------------------------------
def bench_lateness(url: str, n: int, seconds: int, workdir: Path) -> None:
    store = Store(settings=Settings(redis_url=url))
    store.redis.flushall()
    beat = start_beat(url, workdir / "lateness.log")
    try:
        wait_leader(store)
        create(store, n, "* * * * * *")
        r = redis.Redis.from_url(url)
        r.delete("training")
        lateness: list[float] = []
        end = time.time() + seconds
        start = time.time() + 1.0  # skip the first fires (created mid-second)
        while time.time() < end:
            batch = r.rpop("training", 1000)
            popped_at = time.time()
            if not batch:
                time.sleep(0.001)
                continue
            for raw in batch:
                env = json.loads(raw)
                _args, kwargs, _ = json.loads(base64.b64decode(env["body"]))
                if kwargs["fire_time"] >= start:
                    lateness.append((popped_at - kwargs["fire_time"]) * 1000)
        r.close()
        print(
            f"[4] lateness, {n:,} schedules every second for {seconds} s: "
            f"{len(lateness):,} fires, p50 {pct(lateness, 50):.1f} ms, "
            f"p99 {pct(lateness, 99):.1f} ms, max {max(lateness):.1f} ms"
        )
    finally:
        stop(beat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller figures, about a minute")
    ap.add_argument("--only", default="1234", help="which parts to run, e.g. 12")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of each burst size")
    ap.add_argument("--baseline", metavar="REV", help="alternate burst rounds with git REV's beat")
    ap.add_argument("--sizes", help="burst sizes, comma-separated (default 10000,100000)")
    args = ap.parse_args()
    print(machine())
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    quick = args.quick
    workdir = Path(tempfile.mkdtemp(prefix="bench-beat-logs-"))
    with redis_server() as url:
        if "1" in args.only:
            bench_idle(url, 10_000 if quick else 100_000, 500 if quick else 2000)
        if "2" in args.only:
            sizes = [10_000] if quick else [10_000, 100_000]
            if args.sizes:
                sizes = [int(x) for x in args.sizes.split(",")]
            bench_bursts(url, sizes, 1 if quick else args.repeat, workdir, args.baseline)
        if "3" in args.only:
            bench_memory(url, 10_000, 100_000 if quick else 1_000_000, workdir)
        if "4" in args.only:
            bench_lateness(url, 1000, 5 if quick else 30, workdir)
    print(f"beat logs: {workdir}")


if __name__ == "__main__":
    main()
