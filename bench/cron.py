"""Cron benchmark: the cost of one next fire time, per expression and zone.

    .venv/bin/python bench/cron.py            # 400 instants per cell
    .venv/bin/python bench/cron.py --quick    # 100 instants per cell

For each expression (yearly ... every second, with and without a seconds field) and zone (UTC,
Europe/Berlin, Asia/Tokyo, America/New_York, Australia/Lord_Howe), one next fire time is asked
after each of N instants: half spread over 2026-2027, half within 3 hours of one of the zone's
changes of offset (the daylight-saving path). Each call misses the cache (distinct instants).
Median and p99 per cell, in microseconds, for ``next_fire_epoch`` (what beat and the store call)
and ``next_fire_times(..., count=1)`` (the API's preview). Goal: every median under 1 ms.

The first call in a zone and year also finds that year's changes of offset (once per process);
that one-off cost is printed apart.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._machine import machine, median, pct  # noqa: E402
from tasksched import cron  # noqa: E402
from tasksched.cron import zone as cron_zone  # noqa: E402

EXPRESSIONS = [
    ("@yearly", "yearly"),
    ("0 0 29 2 *", "leap day"),
    ("0 0 1 * *", "monthly"),
    ("0 0 * * 0", "weekly"),
    ("0 9 * * mon-fri", "weekdays 09:00"),
    ("30 2 * * *", "daily 02:30 (in a gap)"),
    ("0 */6 * * *", "every 6 hours"),
    ("@hourly", "hourly"),
    ("*/5 * * * *", "every 5 minutes"),
    ("* * * * *", "every minute"),
    ("30 9 * * * 15", "seconds field, 09:30:15"),
    ("* * * * * */15", "every 15 seconds"),
    ("* * * * * *", "every second"),
]
ZONES = ["UTC", "Europe/Berlin", "Asia/Tokyo", "America/New_York", "Australia/Lord_Howe"]
START = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
SPAN = 2 * 365 * 86400


def instants(zone: str, n: int, rng: random.Random) -> list[float]:
    """Half spread over two years, half near the zone's changes of offset (if it has any)."""
    tz = cron.get_timezone(zone)
    changes = [tr.at for y in (2026, 2027) for tr in cron_zone.year_transitions(tz, y)]
    out = [START + rng.random() * SPAN for _ in range(n // 2)]
    for _ in range(n - len(out)):
        if changes:
            out.append(rng.choice(changes) + rng.uniform(-3 * 3600, 3 * 3600))
        else:
            out.append(START + rng.random() * SPAN)
    return out


def timed(fn: object, args: list[float]) -> list[float]:
    assert callable(fn)
    out = []
    for a in args:
        t0 = time.perf_counter()
        fn(a)
        out.append((time.perf_counter() - t0) * 1e6)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="100 instants per cell")
    ap.add_argument("-n", type=int, default=400, help="instants per cell")
    args = ap.parse_args()
    n = 100 if args.quick else args.n
    print(machine())
    print(f"croniter {cron_engine()}; {n} instants per cell; microseconds (median / p99)")

    cron_zone.year_transitions.cache_clear()
    t0 = time.perf_counter()
    cron_zone.year_transitions(cron.get_timezone("Europe/Berlin"), 2030)
    print(f"one-off: finding a zone's changes of offset for a year: "
          f"{(time.perf_counter() - t0) * 1e3:.2f} ms (cached per process)")
    # Done before timing, as a long-lived process has (once per zone and year).
    for zone in ZONES:
        for year in range(2024, 2032):
            cron_zone.year_transitions(cron.get_timezone(zone), year)

    rng = random.Random(13)
    header = (
        f"{'expression':16} {'':24} {'zone':20} {'next_fire_epoch':>17} {'next_fire_times':>17}"
    )
    print(header)
    print("-" * len(header))
    worst = 0.0
    for expr, label in EXPRESSIONS:
        for zone in ZONES:
            afters = instants(zone, n, rng)
            cron.next_fire_epoch(expr, zone, afters[0] - 1)  # parse once, as a long-lived process
            cron._next_epoch_cached.cache_clear()
            epoch = timed(lambda a, e=expr, z=zone: cron.next_fire_epoch(e, z, a), afters)
            tz = cron.get_timezone(zone)
            dts = [datetime.fromtimestamp(a + 0.5, tz) for a in afters]
            times = [0.0] * len(dts)
            for i, d in enumerate(dts):
                t1 = time.perf_counter()
                cron.next_fire_times(expr, zone, d, 1)
                times[i] = (time.perf_counter() - t1) * 1e6
            worst = max(worst, median(epoch), median(times))
            print(f"{expr:16} {label:24} {zone:20} "
                  f"{median(epoch):7.0f} / {pct(epoch, 99):<7.0f} "
                  f"{median(times):7.0f} / {pct(times, 99):<7.0f}")
    verdict = "under" if worst < 1000 else "OVER"
    print(f"worst cell median: {worst:.0f} us ({verdict} the 1 ms goal)")


def cron_engine() -> str:
    from importlib.metadata import version

    return version("croniter")


if __name__ == "__main__":
    main()
