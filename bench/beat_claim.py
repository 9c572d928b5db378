"""Where a burst's Redis time goes: the claim script's CPU time per run, step by step.

    .venv/bin/python bench/beat_claim.py                 # 20,000 runs, 5 rounds
    .venv/bin/python bench/beat_claim.py --runs 50000 --rounds 3

Records the claim calls of a burst (``N`` schedules due at one second, planned and encoded by
beat's own code, pages of ``beat_batch_size`` read ahead by the claims as the tick does), then
replays exactly those calls against a real redis-server started here, with the state rebuilt
identically before each replay: the repository's ``claim_batch.lua``, and copies of it with one
step taken out (each copy leaves Redis in a wrong state; only its cost matters). Reported per
run: redis-server's main-thread CPU time (``INFO cpu``, user + system: unlike wall time, it
hardly grows when other processes take the cores), the minimum and the median over the rounds.
The difference to the full script is what the step costs. The read-ahead's and leader_tick's
reads are measured apart (``leader_tick`` with the same page size, repeated).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench._machine import machine, redis_server  # noqa: E402
from bench.beat import cron_at  # noqa: E402
from tasksched.beat.plan import plan_claims  # noqa: E402
from tasksched.beat.publisher import CeleryPublisher  # noqa: E402
from tasksched.beat.tick import CLAIM_CHUNK  # noqa: E402
from tasksched.celery import create_app  # noqa: E402
from tasksched.models import AutonomousConfig, ScheduleSpec  # noqa: E402
from tasksched.settings import Settings  # noqa: E402
from tasksched.store import Store  # noqa: E402
from tasksched.store.beat import TIMING_FIELDS, BeatStore  # noqa: E402
from tasksched.store.lifecycle import call_id  # noqa: E402
from tasksched.store.scripts import source  # noqa: E402

# (label, text in claim_batch.lua, its replacement): one step taken out.
STEPS = [
    ("arguments only (fence check, then return)", "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n",
     "redis.call('PEXPIRE', KEYS[1], ARGV[3])\nif true then return {0, 0, 0, 0, 0} end\n"),
    ("- the message push (LPUSH)", "redis.call('LPUSH', KEYS[8], unpack(messages, k, "
     "math.min(k + 999, #messages)))", ""),
    ("- the run record (HSET)", "redis.call('HSET', run, 'run_id', rid, 'schedule_id', sid, "
     "'tenant_id', tenant,\n          'status', 'queued'", "local _ = select(1, run, 'run_id', "
     "rid, 'schedule_id', sid, 'tenant_id', tenant,\n          'status', 'queued'"),
    ("- its history index (ZADD runs:<id>)", "        redis.call('ZADD', runs_key, fire, rid)\n"
     "        pending", "        pending"),
    ("- the pending index (ZADD)", "redis.call('ZADD', KEYS[7], unpack(pending, k, "
     "math.min(k + 999, #pending)))", ""),
    ("- the due score (ZADD)", "redis.call('ZADD', KEYS[3], unpack(advance, k, "
     "math.min(k + 999, #advance)))", ""),
    ("- next_run (HSET)", "redis.call('HSET', sched, 'next_run', new_score)", ""),
    ("- the version check (HGET)", "if ok and (redis.call('HGET', sched, 'version') or '') ~= "
     "version then ok = false end", ""),
    ("- the record's existence check (EXISTS)", "if redis.call('EXISTS', run) == 0 then\n"
     "        redis.call('HSET', run, 'run_id'", "if true then\n        redis.call('HSET', "
     "run, 'run_id'"),
    ("- the score check (ZSCORE)", "local score = redis.call('ZSCORE', KEYS[3], sid)",
     "local score = read_score"),
    ("- the history trim check (ZCARD)", "if wrote then trim_history(runs_key, rkey, cap, nil) "
     "end", ""),
]  # fmt: skip


def cpu_s(r: redis.Redis) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_user_main_thread"]) + float(info["used_cpu_sys_main_thread"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=20_000, help="schedules due at once")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    n = args.runs
    print(machine())
    print(f"command: {' '.join(['python', *sys.argv])}")
    with redis_server() as url:
        settings = Settings(redis_url=url)
        store = Store(settings=settings)
        r = redis.Redis.from_url(url, decode_responses=True)
        pub = CeleryPublisher(create_app(settings), settings.training_queue)
        due = float(int(time.time()) + 3600)
        specs = [ScheduleSpec(tenant_id=f"t{i % 1000}", name=f"s{i}", cron_expression=cron_at(
            int(due)), config=AutonomousConfig()) for i in range(n)]  # fmt: skip
        ids = [f"s{i:07d}" for i in range(n)]

        def rebuild() -> None:
            r.flushall()
            for s in range(0, n, 50_000):
                store.schedules.create_many(specs[s : s + 50_000], ids=ids[s : s + 50_000],
                                            now=due - 100)  # fmt: skip
            BeatStore(store).leader_tick("bench", "bench", 60.0, 0, now=due + 0.01)

        # Record: the tick's own path (plan, encode, claim reading ahead), calls kept.
        rebuild()
        bs = BeatStore(store)
        calls: list[tuple[list[str], list[Any]]] = []
        real_run = store.scripts.run

        def record(name: str, keys: list[str], argv: list[Any], client: Any = None) -> Any:
            if name == "claim_batch":
                calls.append((keys, list(argv)))
            return real_run(name, keys, argv, client)

        store.scripts.run = record  # type: ignore[method-assign]
        page = settings.beat_batch_size
        st = bs.leader_tick("bench", "bench", 60.0, page, now=due + 0.01)
        pending = list(zip(st.due, st.timing, strict=True))
        while pending:
            chunk, pending = pending[:CLAIM_CHUNK], pending[CLAIM_CHUNK:]
            claims = plan_claims([d for d, _ in chunk], [t for _, t in chunk], st.now, 300.0)
            payloads = [kw for c in claims for kw in c.kwargs]
            messages = dict(zip([str(p["run_id"]) for p in payloads],
                                pub.redis_messages(payloads), strict=True))  # fmt: skip
            after = chunk[-1][0] if len(pending) <= CLAIM_CHUNK else None
            res = bs.claim("bench", st.fence, 60.0, st.now, claims, call_id(),
                           push_to=settings.training_queue, messages=messages,
                           read_after=after, read_limit=page)  # fmt: skip
            pending.extend(zip(res.due, res.timing, strict=True))
        store.scripts.run = real_run  # type: ignore[method-assign]
        assert r.llen(settings.training_queue) == n, "the recorded burst did not publish all"
        print(f"recorded {len(calls)} claim calls for {n:,} runs (claims of {CLAIM_CHUNK}, "
              f"pages of {page})")  # fmt: skip

        full = source("claim_batch")
        variants = [("claim_batch.lua (the repository's)", full)]
        # Every command of the claim taken out, its Lua work (parsing, keys, tables) kept.
        head, sep, loop = full.partition("local ENTRY = ")
        if sep:
            loop = (loop.replace("local score = redis.call('ZSCORE', KEYS[3], sid)",
                                 "local score = read_score")
                    .replace("(redis.call('HGET', sched, 'version') or '')", "version")
                    .replace("redis.call(", "noop("))  # fmt: skip
            noop = "local function noop(_) return 0 end\n"  # no vararg: no arg table per call
            label = "no claim command (parsing, read-ahead kept)"
            variants.append((label, head + noop + sep + loop))
        for label, old, new in STEPS:
            if old not in full:
                print(f"  (step not found in the script, skipped: {label})")
                continue
            variants.append((label, full.replace(old, new)))
        costs: dict[str, list[float]] = {label: [] for label, _ in variants}
        for _ in range(args.rounds):
            for label, text in variants:
                rebuild()
                sha = r.script_load(text)
                c0 = cpu_s(r)
                for keys, argv in calls:
                    r.evalsha(sha, len(keys), *keys, *argv)
                costs[label].append((cpu_s(r) - c0) / n * 1e6)
        # The reads: leader_tick's page (the read-ahead reads the same way).
        rebuild()
        k = store.keys
        tick = r.script_load(source("leader_tick"))
        reads = []
        for _ in range(args.rounds):
            c0 = cpu_s(r)
            for _ in range(10):
                r.evalsha(tick, 5, k.beat_lock, k.beat_fence, k.control, k.due, k.beat_health,
                          "bench", 60_000, page, repr(due + 0.01), "bench", "60.0", "180.0",
                          k.schedule(""), *TIMING_FIELDS)  # fmt: skip
            reads.append((cpu_s(r) - c0) / (10 * page) * 1e6)
        print("redis-server CPU per run (us; min / median of the rounds):")
        base = min(costs[variants[0][0]])
        for label, values in costs.items():
            delta = "" if label == variants[0][0] else f"   step ~ {base - min(values):+.1f}"
            print(f"  {label:44s} {min(values):5.1f} / {statistics.median(values):5.1f}{delta}")
        print(f"  {'reading a due entry (leader_tick, read-ahead)':44s} {min(reads):5.1f} / "
              f"{statistics.median(reads):5.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
