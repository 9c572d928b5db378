"""Store benchmark: bulk create through the public API, memory per schedule, tenant listing.

    .venv/bin/python bench/store.py            # 100,000 schedules (the issue's figure)
    .venv/bin/python bench/store.py --count 20000 --repeat 1   # a quick run

Goals (issue 2): >= 20,000 schedules/s created; list_schedules(tenant) for a tenant with 1,000
schedules among 100,000 under 50 ms median.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._machine import machine, median, pct, redis_server
from tasksched import AutonomousConfig, SafetyControls, SchedulerManager
from tasksched.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--tenant-size", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=3, help="bulk-create rounds (median reported)")
    ap.add_argument("--list-runs", type=int, default=30)
    args = ap.parse_args()
    print(machine())
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    rates: list[float] = []
    with redis_server() as url:
        m = SchedulerManager(settings=Settings(redis_url=url))
        for round_no in range(args.repeat):
            m.store.redis.flushall()
            base_mem = int(m.store.redis.info("memory")["used_memory"])
            # Realistic mix: a few shared configs, many tenants, several crons and zones.
            configs = [
                AutonomousConfig(timezone="UTC"),
                AutonomousConfig(
                    timezone="Europe/Berlin", safety_controls=SafetyControls(level="strict")
                ),
                AutonomousConfig(timezone="America/New_York", quality_threshold=0.8, jitter_s=600),
            ]
            crons = ["0 2 * * *", "*/15 * * * *", "30 4 * * mon-fri"]
            n_big = args.tenant_size
            items = []
            for i in range(args.count):
                tenant = "big-tenant" if i < n_big else f"tenant-{i % 997}"
                items.append(
                    {
                        "tenant_id": tenant,
                        "name": f"retrain-{i}",
                        "cron_expression": crons[i % 3],
                        "config": configs[i % 3],
                    }
                )
            t0 = time.perf_counter()
            ids = m.create_training_schedules(items)
            elapsed = time.perf_counter() - t0
            assert len(ids) == args.count
            rate = args.count / elapsed
            rates.append(rate)
            mem = int(m.store.redis.info("memory")["used_memory"]) - base_mem
            print(
                f"round {round_no + 1}: created {args.count:,} schedules in {elapsed:.2f} s = "
                f"{rate:,.0f} schedules/s; Redis memory {mem / args.count:,.0f} bytes/schedule"
            )
        print(
            f"bulk create: median {median(rates):,.0f} schedules/s over {len(rates)} rounds "
            f"(goal >= 20,000)"
        )
        times_ms: list[float] = []
        for _ in range(args.list_runs):
            t0 = time.perf_counter()
            got = m.list_schedules("big-tenant")
            times_ms.append((time.perf_counter() - t0) * 1000)
            assert len(got) == n_big
        print(
            f"list_schedules(tenant with {n_big:,} among {args.count:,}): "
            f"median {median(times_ms):.1f} ms, p99 {pct(times_ms, 99):.1f} ms "
            "(goal < 50 ms median)"
        )


if __name__ == "__main__":
    main()
