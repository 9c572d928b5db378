"""Beat's side of the store: leadership, the due index head, the claim and the outbox.

Every call here is one round trip: :meth:`BeatStore.leader_tick` (lease, clock, switch,
due head with its timing fields), :meth:`BeatStore.claim` (one Lua script per batch,
guarded by the leader's token) and the outbox reads and acknowledgements. Nothing here scans the
schedules.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tasksched.store import Store

# Hash fields of a schedule that a tick reads for each due entry.
TIMING_FIELDS = ("cron", "tz", "jitter_s", "misfire", "version", "tenant_id", "status", "dst")


@dataclass(frozen=True)
class TickState:
    """What one :meth:`BeatStore.leader_tick` saw."""

    leader: bool
    new_term: bool
    fence: int
    now: float  # Redis time (or the injected clock), epoch seconds
    enabled: bool
    head: float | None  # the earliest due score, None when the index is empty
    holder: str | None  # the lease holder's token
    due: list[tuple[str, float]] = field(default_factory=list)
    timing: list[list[str | None]] = field(default_factory=list)  # TIMING_FIELDS of each due


@dataclass
class DueClaim:
    """One due entry to claim: what was read, and what the tick decided for it."""

    schedule_id: str
    read_score: float
    version: str  # "" when the schedule hash is gone
    new_score: float | None  # None: drop from the due index
    tenant_id: str = ""
    # (run id, fire time, trigger, outbox payload JSON)
    runs: list[tuple[str, float, str, str]] = field(default_factory=list)
    # The task keyword arguments of each run, in the order of ``runs``.
    kwargs: list[dict[str, Any]] = field(default_factory=list)
    # (run id, fire time, reason)
    missed: list[tuple[str, float, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ClaimResult:
    """What one claim script call did; ``lost_lease`` means nothing was written."""

    lost_lease: bool
    claimed: int = 0
    stale: int = 0
    missed: int = 0
    run_ids: list[str] = field(default_factory=list)  # newly put in the outbox


def _f(value: float) -> str:
    return repr(float(value))


class BeatStore:
    """Leadership, due reads, claims and the outbox for beat processes."""

    def __init__(self, store: Store):
        self._s = store
        self._r = store.redis
        self._k = store.keys

    # ---- leadership -----------------------------------------------------------------------
    def leader_tick(
        self,
        token: str,
        beat_id: str,
        lease_s: float,
        limit: int,
        now: float | None = None,
    ) -> TickState:
        """Acquire or renew the lease, read the clock, the switch and (as leader) the due head.

        The due entries come with their schedules' timing fields (:data:`TIMING_FIELDS`), read
        in the same script. Standbys only record that they are alive (``seen:<beat_id>``).
        """
        k = self._k
        res = self._s.scripts.run(
            "leader_tick",
            [k.beat_lock, k.beat_fence, k.control, k.due, k.beat_health],
            [
                token,
                max(int(lease_s * 1000), 1),
                int(limit),
                "" if now is None else _f(now),
                beat_id,
                _f(lease_s),
                _f(max(3 * lease_s, 5.0)),
                k.schedule(""),
                *TIMING_FIELDS,
            ],
        )
        flat = res[7:]
        stride = 2 + len(TIMING_FIELDS)
        due = [(str(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), stride)]
        timing = [list(flat[i + 2 : i + stride]) for i in range(0, len(flat), stride)]
        return TickState(
            leader=int(res[0]) == 1,
            new_term=int(res[1]) == 1,
            fence=int(res[2]),
            now=float(res[3]),
            enabled=int(res[4]) == 1,
            head=float(res[5]) if res[5] not in ("", None) else None,
            holder=str(res[6]) if res[6] else None,
            due=due,
            timing=timing,
        )

    def release(self, token: str) -> bool:
        """Give the lease up (clean shutdown) so a standby takes over at once."""
        return bool(self._s.scripts.run("lease_release", [self._k.beat_lock], [token]))

    # ---- claims ---------------------------------------------------------------------------
    def claim(
        self, token: str, lease_s: float, now: float, claims: Sequence[DueClaim]
    ) -> ClaimResult:
        """Claim ``claims`` in one script call (see ``scripts/claim_batch.lua``)."""
        k = self._k
        args: list[Any] = [
            token,
            max(int(lease_s * 1000), 1),
            _f(now),
            self._s.settings.run_history_max,
            k.schedule(""),
            k.run(""),
            k.runs(""),
            len(claims),
        ]
        for c in claims:
            args.extend(
                (
                    c.schedule_id,
                    _f(c.read_score),
                    c.version,
                    "" if c.new_score is None else _f(c.new_score),
                    c.tenant_id,
                    len(c.runs),
                    len(c.missed),
                )
            )
            for run_id, fire, trigger, payload in c.runs:
                args.extend((run_id, _f(fire), trigger, payload))
            for run_id, fire, reason in c.missed:
                args.extend((run_id, _f(fire), reason))
        res = self._s.scripts.run(
            "claim_batch", [k.beat_lock, k.due, k.outbox, k.beat_health], args
        )
        if int(res[0]) == -1:
            return ClaimResult(lost_lease=True)
        return ClaimResult(
            lost_lease=False,
            claimed=int(res[0]),
            stale=int(res[1]),
            missed=int(res[2]),
            run_ids=[str(r) for r in res[3:]],
        )

    # ---- outbox ---------------------------------------------------------------------------
    def outbox_entries(self, page: int = 2000) -> Iterator[list[tuple[str, dict[str, Any]]]]:
        """Pages of (run id, payload) still in the outbox (HSCAN: bounded memory)."""
        cursor = 0
        seen: set[str] = set()
        while True:
            cursor, chunk = self._r.hscan(self._k.outbox, cursor, count=page)
            items = [(str(rid), json.loads(p)) for rid, p in chunk.items() if rid not in seen]
            seen.update(rid for rid, _ in items)
            if items:
                yield items
            if int(cursor) == 0:
                return

    def outbox_ack(self, run_ids: Sequence[str]) -> None:
        """Remove published runs from the outbox."""
        if run_ids:
            self._r.hdel(self._k.outbox, *run_ids)

    def push_and_ack(self, list_key: str, messages: Sequence[str], run_ids: Sequence[str]) -> None:
        """Push broker messages to ``list_key`` and remove their runs from the outbox, atomically.

        For a broker that is this Redis (kombu's Redis transport: LPUSH, consumers pop the
        tail). One MULTI/EXEC: either both happen or neither.
        """
        if not messages:
            return
        pipe = self._r.pipeline(transaction=True)
        pipe.lpush(list_key, *messages)
        pipe.hdel(self._k.outbox, *run_ids)
        pipe.execute()

    # ---- health ---------------------------------------------------------------------------
    def record_dispatch_lag(self, lag_s: float) -> None:
        """The lateness of the last dispatched batch (publish time minus fire time)."""
        self._r.hset(self._k.beat_health, "dispatch_lag_s", _f(lag_s))
