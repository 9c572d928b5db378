"""Beat's side of the store: leadership, the due index head, the claim and the outbox.

Every call here is one round trip: :meth:`BeatStore.leader_tick` (lease, clock, switch,
due head with its timing fields; the release of staged seconds that have come),
:meth:`BeatStore.claim` (one Lua script per batch, fenced by the leader's token and term; when
the broker is this Redis it pushes the task messages in the same script, or stages them for a
second still to come) and the outbox reads, fenced pushes and acknowledgements. Nothing here
scans the schedules.

Every script is safe to run twice (redis-py retries a call whose reply was lost): the claim
carries a claim id and a repeated claim returns the runs it already claimed; a fenced push
removes each outbox entry in the same step as it pushes its message; a release moves what is
staged (a repeat finds nothing left); leader_tick, the fence check and the acknowledgement
(HDEL) are idempotent by nature.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
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
    released: int = 0  # staged messages this call moved to the broker's queue
    staged_head: float | None = None  # the earliest second still staged
    head_count: int = 0  # entries due at ``head`` when it is still to come


@dataclass
class DueClaim:
    """One due entry to claim: what was read, and what the tick decided for it."""

    schedule_id: str
    read_score: float
    version: str  # "" when the schedule hash is gone
    new_score: float | None  # None: drop from the due index
    tenant_id: str = ""
    # (run id, fire time, trigger, pending deadline)
    runs: list[tuple[str, float, str, float]] = field(default_factory=list)
    # The outbox payload of each run (task keyword arguments and ``expires``), as ``runs``.
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
    run_ids: list[str] = field(default_factory=list)  # newly pushed, or put in the outbox
    # The read-ahead (``read_after``): done or not, and the due entries it read, as TickState's.
    read: bool = False
    due: list[tuple[str, float]] = field(default_factory=list)
    timing: list[list[str | None]] = field(default_factory=list)


def _f(value: float) -> str:
    return repr(float(value))


_dumps = json.JSONEncoder(separators=(",", ":")).encode
_TIMING_NAMES = "\t".join(TIMING_FIELDS)


def _due_rows(flat: Sequence[Any]) -> tuple[list[tuple[str, float]], list[list[str | None]]]:
    """Due entries as the scripts return them (id, score, TIMING_FIELDS values; flat)."""
    stride = 2 + len(TIMING_FIELDS)
    flat = list(flat)
    due = list(zip(flat[0::stride], map(float, flat[1::stride]), strict=True))
    timing = [flat[i + 2 : i + stride] for i in range(0, len(flat), stride)]
    return due, timing


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
        release_to: str | None = None,
    ) -> TickState:
        """Acquire or renew the lease, read the clock, the switch and (as leader) the due head.

        The due entries come with their schedules' timing fields (:data:`TIMING_FIELDS`), read
        in the same script. Standbys only record that they are alive (``seen:<beat_id>``).
        With ``release_to`` (the broker's queue list in this Redis), the leader first moves
        the messages of the staged seconds that have come there (see :meth:`claim`'s
        ``stage``).
        """
        k = self._k
        res = self._s.scripts.run(
            "leader_tick",
            [k.beat_lock, k.beat_fence, k.control, k.due, k.beat_health, k.beat_staged,
             release_to or k.beat_staged_list("")],
            [
                token,
                max(int(lease_s * 1000), 1),
                int(limit),
                "" if now is None else _f(now),
                beat_id,
                _f(lease_s),
                _f(max(3 * lease_s, 5.0)),
                k.schedule(""),
                k.beat_staged_list(""),
                "1" if release_to else "",
                *TIMING_FIELDS,
            ],
        )
        due, timing = _due_rows(res[10:])
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
            released=int(res[7]),
            staged_head=float(res[8]) if res[8] not in ("", None) else None,
            head_count=int(res[9]),
        )

    def due_page(
        self, until: float, limit: int
    ) -> tuple[list[tuple[str, float]], list[list[str | None]]]:
        """Up to ``limit`` due entries with a score <= ``until`` and their timing fields, as
        :meth:`leader_tick` reads them; a read only (the leader plans claims before their fire
        time with it; each claim checks the score and version it read)."""
        k = self._k
        res = self._s.scripts.run(
            "due_page", [k.due], [_f(until), int(limit), k.schedule(""), *TIMING_FIELDS]
        )
        return _due_rows(res)

    def release(self, token: str) -> bool:
        """Give the lease up (clean shutdown) so a standby takes over at once."""
        return bool(self._s.scripts.run("lease_release", [self._k.beat_lock], [token]))

    # ---- claims ---------------------------------------------------------------------------
    def claim(
        self,
        token: str,
        fence: int,
        lease_s: float,
        now: float,
        claims: Sequence[DueClaim],
        claim_id: str,
        push_to: str | None = None,
        messages: Mapping[str, str] | None = None,
        read_after: tuple[str, float] | None = None,
        read_limit: int = 0,
        stage: bool = False,
    ) -> ClaimResult:
        """Claim ``claims`` in one script call (see ``scripts/claim_batch.lua``).

        With ``push_to`` (a broker list in this Redis) each newly claimed run's message from
        ``messages`` (run id -> kombu envelope) is pushed there in the same script; otherwise
        its payload goes to the outbox for :meth:`fenced_push` or another broker.

        With ``stage`` (and ``messages``), ``now`` is a due second still to come and the
        messages go to that second's staged list instead (``push_to`` is ignored); the leader's
        :meth:`leader_tick` moves them to the broker's queue once the second has come.

        With ``read_after`` (a due entry read before: id, score) the same call first reads up to
        ``read_limit`` due entries that follow it in the due index, with their timing fields
        (the tick's next page, read while Redis is busy anyway instead of in a round trip of
        its own); ``read`` is False when that entry moved meanwhile (the next tick reads).
        """
        k = self._k
        stage = stage and messages is not None
        push = (push_to is not None or stage) and messages is not None
        if stage:
            queue_key = k.beat_staged_list(_f(now))
        else:
            queue_key = push_to if push_to is not None and push else k.outbox
        args: list[Any] = [
            token,
            int(fence),
            max(int(lease_s * 1000), 1),
            _f(now),
            self._s.settings.run_history_max,
            k.schedule(""),
            k.run(""),
            k.runs(""),
            claim_id,
            "stage" if stage else "push" if push else "outbox",
            len(claims),
            "" if read_after is None else f"{int(read_limit)}\t{read_after[0]}\t{read_after[1]!r}",
            _TIMING_NAMES,
        ]
        # Tab-separated fields: two arguments per run, one per entry (each argument costs the
        # client and Redis more than its bytes).
        for c in claims:
            new_score = "" if c.new_score is None else _f(c.new_score)
            args.append(f"{c.schedule_id}\t{c.read_score!r}\t{c.version}\t{new_score}\t"
                        f"{c.tenant_id}\t{len(c.runs)}\t{len(c.missed)}")  # fmt: skip
            for (run_id, fire, trigger, pending_until), payload in zip(
                c.runs, c.kwargs, strict=True
            ):
                args.append(f"{run_id}\t{fire!r}\t{trigger}\t{pending_until!r}")
                args.append(messages[run_id] if push else _dumps(payload))  # type: ignore[index]
            for run_id, fire, reason in c.missed:
                args.append(f"{run_id}\t{fire!r}\t{reason}")
        res = self._s.scripts.run(
            "claim_batch",
            [
                k.beat_lock,
                k.beat_fence,
                k.due,
                k.outbox,
                k.beat_health,
                k.beat_claim,
                k.pending,
                queue_key,
                k.beat_staged,
            ],
            args,
        )
        if int(res[0]) == -1:
            return ClaimResult(lost_lease=True)
        end = 4 + int(res[3])
        due, timing = _due_rows(res[end + 1 :])
        return ClaimResult(
            lost_lease=False,
            claimed=int(res[0]),
            stale=int(res[1]),
            missed=int(res[2]),
            run_ids=[str(r) for r in res[4:end]],
            read=int(res[end]) == 1,
            due=due,
            timing=timing,
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
        """Remove published runs from the outbox (idempotent)."""
        if run_ids:
            self._r.hdel(self._k.outbox, *run_ids)

    def fence_ok(self, token: str, fence: int, lease_s: float) -> bool:
        """True (lease renewed) while ``token`` leads in term ``fence``: checked right before a
        publish through another broker (``scripts/beat_fence.lua``)."""
        k = self._k
        return bool(
            self._s.scripts.run(
                "beat_fence",
                [k.beat_lock, k.beat_fence],
                [token, int(fence), max(int(lease_s * 1000), 1)],
            )
        )

    def fenced_push(
        self,
        token: str,
        fence: int,
        lease_s: float,
        list_key: str,
        run_ids: Sequence[str],
        messages: Sequence[str],
    ) -> int | None:
        """Push the messages of outbox runs to ``list_key`` (a broker list in this Redis) and
        remove their outbox entries, in one script, fenced (``scripts/push_and_ack.lua``).

        Only runs still in the outbox are pushed, so a repeat pushes nothing twice. Returns
        how many were pushed, None when fenced out (nothing written).
        """
        if not run_ids:
            return 0
        k = self._k
        args: list[Any] = [token, int(fence), max(int(lease_s * 1000), 1)]
        for run_id, message in zip(run_ids, messages, strict=True):
            args.extend((run_id, message))
        n = int(
            self._s.scripts.run(
                "push_and_ack", [k.beat_lock, k.beat_fence, k.outbox, list_key], args
            )
        )
        return None if n < 0 else n

    def take_list(self, list_key: str) -> list[str]:
        """Read and delete a list (the publisher's start-up probe), oldest first."""
        pipe = self._r.pipeline(transaction=False)
        pipe.lrange(list_key, 0, -1)
        pipe.delete(list_key)
        items, _ = pipe.execute()
        return [str(x) for x in reversed(items)]

    # ---- health ---------------------------------------------------------------------------
    def record_dispatch_lag(self, lag_s: float) -> None:
        """The lateness of the last dispatched batch (publish time minus fire time)."""
        self._r.hset(self._k.beat_health, "dispatch_lag_s", _f(lag_s))
