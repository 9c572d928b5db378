"""The beat tick: leadership, due entries, misfire plans, claims and publishing.

:class:`Ticker` is beat without Celery's loop (:class:`~tasksched.beat.scheduler.RedisScheduler`
calls its :meth:`Ticker.tick`). One tick, as leader:

1. one script call: renew (or take) the lease, read Redis's clock, the global switch, up to
   ``beat_batch_size`` due entries (``ZRANGEBYSCORE ... LIMIT``: O(log N + due)) and, in the
   same script, those schedules' timing fields;
2. per entry, the misfire plan (:func:`tasksched.beat.plan.plan_claims`, cached by cron and time),
   in slices of at most ``PLAN_SLICE_S`` of planning;
3. one claim script call per slice (at most ``beat_batch_size`` records each), fenced by the
   lease token and term: advance the due score, write the run records (queued or missed) and,
   when the broker is this Redis, push the task messages in the same script; else put them in
   the outbox;
4. otherwise publish the outbox runs (:class:`~tasksched.beat.publisher.CeleryPublisher`) after
   a fenced check, and remove them from the outbox. A new leader publishes what the outbox still
   holds first (a fenced push-and-remove script on the direct path).

The tick PREPARE_LEAD_S before a due second reads, plans and encodes that second's entries
ahead (:mod:`tasksched.beat.prepare`; a read, nothing is written), so the tick at the second
starts with step 3. A burst (``beat_stage_min`` entries or more at one second, the broker this
Redis) is claimed before its second instead, its messages held in a staged list that step 1
of the tick at the second moves to the broker's queue (:mod:`tasksched.beat.stage`).

Every store call is safe to retry (see :mod:`tasksched.store.beat`). A leader stops dispatching
once its local lease deadline (from the last successful renew, ``time.monotonic``) has passed,
and becomes a standby; errors never escape :meth:`tick`. Logs: one INFO line per tick that did
something (``beat.tick``), one DEBUG line per run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from tasksched.beat.plan import bounded, plan_claims
from tasksched.beat.prepare import PREPARE_LEAD_S, Prepared, prepare
from tasksched.beat.publishing import PUBLISH_CHUNK, Publisher, RedisListPublisher
from tasksched.beat.stage import stage_lead_s
from tasksched.beat.staging import Staging
from tasksched.beat.stats import DispatchStats, TickSummary
from tasksched.errors import StoreUnavailableError
from tasksched.logs import log_event
from tasksched.settings import Settings
from tasksched.store import Store
from tasksched.store.beat import BeatStore, ClaimResult, DueClaim, TickState
from tasksched.store.lifecycle import call_id
from tasksched.store.locks import new_token

__all__ = ["CLAIM_CHUNK", "PLAN_SLICE_S", "PUBLISH_CHUNK", "TICK_BUDGET_S", "Publisher",
           "RedisListPublisher", "Ticker"]  # fmt: skip

logger = logging.getLogger("tasksched.beat")

# How long one tick may keep dispatching a backlog before giving Celery's loop a turn.
TICK_BUDGET_S = 2.0
# Planning (misfire plans, next fire times) between two claims; each claim renews the lease.
PLAN_SLICE_S = 0.05
# Due entries planned and claimed per script call (a claim of this many takes Redis about as
# long as planning and encoding the next: the two overlap).
CLAIM_CHUNK = 1000
# Due entries a tick reads first (then the claims read ahead, batch_size at a time), and how
# many of them its first claim takes: a small first claim puts the first messages of a burst
# in the broker sooner, while the rest of the first read is planned.
FIRST_READ = 1000
FIRST_CLAIM = 250
# Claims sent and not answered yet (each on its own connection): Redis runs the next one as
# soon as the previous one ends, while this process reads one answer and sends the next
# claim (with one in flight, Redis idled for that, about a third of a burst).
CLAIMS_IN_FLIGHT = 2
# A claim carries the read-ahead of the next page once this few read entries are left to
# claim: the page arrives while the claims in flight still have work for Redis.
READ_AHEAD_AT = (CLAIMS_IN_FLIGHT + 1) * CLAIM_CHUNK


@dataclass(frozen=True)
class _Inflight:
    """A claim sent to Redis (by a helper thread) whose answer is not read yet."""

    future: Future[ClaimResult]
    claims: list[DueClaim]
    direct: bool  # its messages go to the broker inside the claim
    sent_at: float  # monotonic: the lease renewal counts from here
    read_after: tuple[str, float] | None = None  # it also reads the next page after this entry
    staged: bool = False  # its messages go to a staged list (a second still to come)


class Ticker(Staging):
    """One beat process's dispatching state: its lease token and the tick."""

    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        settings: Settings | None = None,
        clock: Callable[[], float] | None = None,
        token: str | None = None,
        fast_path: bool = True,
    ):
        self.settings = settings or store.settings
        self.store = store
        self.beat_store = BeatStore(store)
        self.publisher = publisher
        self.clock = clock
        self.token = token or new_token("beat")
        self.lease_s = self.settings.beat_lease_s
        self.tick_s = self.settings.beat_tick_s
        self.batch_size = max(int(self.settings.beat_batch_size), 1)
        self.stage_min = int(self.settings.beat_stage_min)
        # Stop dispatching this long before the lease could expire in Redis.
        self._margin_s = max(0.1 * self.lease_s, min(0.2, 0.5 * self.lease_s))
        # Planning between two claims (each renews the lease): well inside the margin.
        self._plan_slice_s = min(PLAN_SLICE_S, 0.25 * self._margin_s)
        self.is_leader = False
        self.fence = 0  # the term (beat:fence) this process leads in
        self._deadline = 0.0  # monotonic time after which the lease may be gone
        self._outbox_dirty = True
        self._clock_ref = (0.0, 0.0)  # (store time, monotonic) at the last tick
        self.stats = DispatchStats()
        self._summary = TickSummary()
        # The broker is this Redis: the claim pushes the messages itself (see publisher),
        # once the start-up check of each leadership found our envelope equal to kombu's.
        self.direct_queue_key: str | None = None
        self._direct: RedisListPublisher | None = None
        self._direct_checked = False
        self._claimer: ThreadPoolExecutor | None = None  # sends claims (see _dispatch_batch)
        self._prepared: Prepared | None = None  # claims for the next due second (prepare)
        self._stage_stuck = None  # see Staging
        if fast_path and isinstance(publisher, RedisListPublisher):
            self.direct_queue_key = publisher.redis_queue_key(self.settings.redis_url)
            if self.direct_queue_key is not None:
                self._direct = publisher

    # ---- public ---------------------------------------------------------------------------
    def tick(self) -> float:
        """Run one tick; return how long to sleep before the next one. Never raises."""
        started = time.monotonic()
        self._summary = TickSummary()
        try:
            return self._tick()
        except StoreUnavailableError as exc:
            self._on_error("store unreachable; retrying", exc)
        except Exception as exc:
            # Broker errors and anything unforeseen: log, keep the outbox, try again.
            self._on_error("tick failed; retrying", exc)
        finally:
            self._log_summary(started)
        return self.tick_s

    # ---- the tick -------------------------------------------------------------------------
    def _tick(self) -> float:
        started = time.monotonic()
        prepared, self._prepared = self._prepared, None
        while True:
            t0 = time.monotonic()
            st = self.beat_store.leader_tick(
                self.token,
                self.token,
                self.lease_s,
                # Prepared claims are for what is due now: the renewal need not read it.
                0 if prepared is not None else min(self.batch_size, FIRST_READ),
                now=None if self.clock is None else self.clock(),
                # Staged seconds are released by whichever leader ticks when they come.
                release_to=self.direct_queue_key,
            )
            if not st.leader:
                if self.is_leader:
                    self._standby("lease held by another beat", holder=st.holder)
                return self.tick_s
            self._renewed(t0)
            if not self.is_leader or st.new_term or st.fence != self.fence:
                self._lead(st)
            self._clock_ref = (st.now, t0)
            if st.released:
                self._released(st)
            if self._outbox_dirty:
                self._drain_outbox()
            if prepared is not None:
                if st.enabled and prepared.fence == self.fence and st.now < prepared.head:
                    self._prepared = prepared  # woke early: keep them for their second
                    return self._sleep_s(st)
                if not (st.enabled and prepared.usable(self.fence, st.now)):
                    prepared = None  # another term's, or too late: read and plan afresh
                    continue
            elif not st.enabled or not st.due:
                if self._stage_now(st):
                    self._stage(st, started + TICK_BUDGET_S)
                    return 0.0 if self.is_leader else self.tick_s
                self._prepare_next(st)
                return self._sleep_s(st)
            complete, more = self._dispatch_batch(st, started + TICK_BUDGET_S, prepared)
            prepared = None
            if not self.is_leader:
                return self.tick_s
            if time.monotonic() - started > TICK_BUDGET_S:
                return 0.0
            if complete and not more:
                return 0.0

    def _stage(self, st: TickState, budget_end: float) -> None:
        """Claim the entries due at ``st.head`` (a second still to come) now, planned as of
        that second, their messages pushed to its staged list."""
        assert st.head is not None
        due, timing = self.beat_store.due_page(st.head, min(self.batch_size, FIRST_READ))
        if due and due[0][1] < st.head:
            # An entry due sooner was written since leader_tick: it is claimed at its time
            # (the next tick's head), not released with this second.
            at = [i for i, (_, score) in enumerate(due) if score == st.head]
            due, timing = [due[i] for i in at], [timing[i] for i in at]
        if not due:
            return
        ahead = dataclasses.replace(st, now=st.head, due=due, timing=timing)
        staged_before = self._summary.staged
        self._dispatch_batch(ahead, budget_end, stage=True)
        # A pass that claimed nothing (every entry changed meanwhile) is not repeated until
        # the head or its count moves: the entries are claimed at their second.
        nothing = self._summary.staged == staged_before
        self._stage_stuck = (st.head, st.head_count) if nothing else None

    def _prepare_next(self, st: TickState) -> None:
        """Within PREPARE_LEAD_S of the due head's second, read, plan and encode its entries
        now (see :mod:`tasksched.beat.prepare`)."""
        if not st.enabled or st.head is None:
            return
        wait_s = st.head - self._store_now()
        if not 0.0 < wait_s <= PREPARE_LEAD_S:
            return
        self._prepared = prepare(self.beat_store, st.head, self.fence, wait_s,
                                 self.settings.beat_default_grace_s, CLAIM_CHUNK,
                                 self.batch_size, self._messages)  # fmt: skip

    def _sleep_s(self, st: TickState) -> float:
        # A staged second is released by the tick at it (by a leader that can: the broker is
        # this Redis).
        staged = st.staged_head if self.direct_queue_key is not None else None
        if not st.enabled or (st.head is None and staged is None):
            return self.tick_s
        now = self._store_now()
        waits = [self.tick_s] if staged is None else [staged - now]
        if st.head is not None:
            wait_s = st.head - now
            if self._stages(st):
                # Wake when the claims ahead of a burst's second are to start.
                begun = st.staged_head == st.head
                waits.append(0.0 if begun else wait_s - stage_lead_s(st.head_count))
            elif self._prepared is None and wait_s > PREPARE_LEAD_S:
                # Wake once PREPARE_LEAD_S before the head's second, to prepare its claims.
                waits.append(wait_s - PREPARE_LEAD_S)
            else:
                waits.append(wait_s)
        return min(max(min(waits), 0.0), self.tick_s)

    def _dispatch_batch(
        self,
        st: TickState,
        budget_end: float,
        prepared: Prepared | None = None,
        stage: bool = False,
    ) -> tuple[bool, bool]:
        """Plan, claim and publish ``st.due`` in slices of at most PLAN_SLICE_S of planning.

        Each slice's claim renews the lease, so planning never outlives it, and what one
        schedule costs delays the others by one slice at most. A long downtime with run_all can
        plan up to 100 fires per entry: each script call writes at most batch_size records.
        Claims go to Redis from helper threads (one connection each) while this one plans and
        encodes the next chunk, so Redis's work and Python's overlap; up to CLAIMS_IN_FLIGHT
        are sent and not answered yet, so Redis starts the next as the previous one ends (each
        is fenced in its script: one sent after the lease was lost writes nothing). When a
        full page was read (more may be due), a claim sent as the page runs low also reads the
        next page (the read-ahead, ``BeatStore.claim(read_after=...)``), so a backlog flows
        without a round trip of its own between pages. Returns (complete, more): complete is
        False when the tick's budget ran out (or leadership was lost) before the last entry
        read (the rest stay due); more is True when more entries may be due than were read. With
        ``prepared`` (claims planned before their second), those are sent first, then the rest
        of their page is planned and read ahead as usual. With ``stage``, ``st.now`` is a
        second still to come and the claims stage their messages (``BeatStore.claim(stage=)``).
        """
        if prepared is None:
            due, timing = list(st.due), list(st.timing)  # read, from i on not yet claimed
            more = len(due) >= min(self.batch_size, FIRST_READ)
            i = 0
        else:
            due, timing = list(prepared.due), list(prepared.timing)
            more, i = prepared.full, prepared.planned
        ahead = True  # the read-ahead may be asked (False once its start entry moved)
        asked = False  # a claim in flight carries a read-ahead
        flights: deque[_Inflight] = deque()  # sent, oldest first, answers not read yet

        def answered() -> bool:
            nonlocal more, ahead, asked
            c = flights.popleft()
            res = self._claimed(c)
            if res is None:
                # Fenced out: the claims still in flight are too (each checks the lease in its
                # script); the finally below waits for them.
                return False
            if c.read_after is not None:
                asked = False
                if res.read:
                    due.extend(res.due)
                    timing.extend(res.timing)
                    more = len(res.due) >= self.batch_size
                else:
                    ahead = False  # the next tick reads from the head
            return True

        def send(chunk: list[DueClaim], messages: dict[str, str] | None) -> bool:
            nonlocal asked
            while len(flights) >= CLAIMS_IN_FLIGHT:
                if not answered():
                    return False
            if not self._check_lease("before claim"):
                return False
            read_after = None
            if more and ahead and not asked and len(due) - i <= READ_AHEAD_AT:
                read_after, asked = due[-1], True
            flights.append(self._send_claim(st, chunk, messages, read_after, stage))
            return True

        try:
            for chunk, messages in prepared.chunks if prepared is not None else ():
                if not send(chunk, messages):
                    return False, False
            while True:
                if i >= len(due):
                    # Nothing left to plan: the claims in flight may bring the next page.
                    if not flights:
                        return True, more
                    if not answered():
                        return False, False
                    continue
                if i > 4 * self.batch_size:  # forget what was claimed (a long backlog)
                    del due[:i], timing[:i]
                    i = 0
                slice_end = time.monotonic() + self._plan_slice_s
                # At most CLAIM_CHUNK entries a slice: while claims run in Redis, the next chunk
                # is planned and encoded here.
                size = FIRST_CLAIM if not flights and i == 0 else CLAIM_CHUNK
                claims = plan_claims(
                    due[i : i + size],
                    timing[i : i + size],
                    st.now,
                    self.settings.beat_default_grace_s,
                    deadline=slice_end,
                )
                i += len(claims)
                for chunk in bounded(claims, self.batch_size):
                    # Encoded while the claims in flight run in Redis.
                    if not send(chunk, self._messages(chunk)):
                        return False, False
                if i < len(due) and time.monotonic() > budget_end:
                    while flights:
                        if not answered():
                            return False, False
                    return False, True
        finally:
            # Left by an error (or a lost lease): their writes stand (each claim is fenced and
            # idempotent); wait for them, and have the next tick drain what they put in the
            # outbox.
            for rest in flights:
                with contextlib.suppress(Exception):
                    rest.future.result()
            if flights:
                self._outbox_dirty = True

    def _messages(self, claims: list[DueClaim]) -> dict[str, str] | None:
        """The broker messages of the claims' runs on the direct path (run id -> envelope)."""
        if not self.direct:
            return None
        assert self._direct is not None
        payloads = [kw for c in claims for kw in c.kwargs]
        encoded = self._direct.redis_messages(payloads)
        return {str(p["run_id"]): m for p, m in zip(payloads, encoded, strict=True)}

    def _send_claim(
        self,
        st: TickState,
        claims: list[DueClaim],
        messages: dict[str, str] | None,
        read_after: tuple[str, float] | None = None,
        stage: bool = False,
    ) -> _Inflight:
        if self._claimer is None:
            self._claimer = ThreadPoolExecutor(
                CLAIMS_IN_FLIGHT, thread_name_prefix="tasksched-claim"
            )
        t0 = time.monotonic()
        future = self._claimer.submit(
            self.beat_store.claim, self.token, self.fence, self.lease_s, st.now, claims,
            call_id(), push_to=self.direct_queue_key if messages is not None else None,
            messages=messages, read_after=read_after, read_limit=self.batch_size,
            stage=stage and messages is not None,
        )  # fmt: skip
        return _Inflight(future, claims, messages is not None, t0, read_after,
                         stage and messages is not None)  # fmt: skip

    def _claimed(self, c: _Inflight) -> ClaimResult | None:
        """Wait for a claim's answer and publish what it claimed; None when the lease was
        lost."""
        res = c.future.result()
        if res.lost_lease:
            self._standby("lease lost at claim")
            return None
        self._renewed(c.sent_at)
        summary = self._summary
        summary.claims += 1
        summary.missed += res.missed
        summary.stale += res.stale
        if logger.isEnabledFor(logging.DEBUG):
            for claim in c.claims:
                for run_id, fire, reason in claim.missed:
                    log_event(
                        logger, logging.DEBUG, "run missed", event="run.missed",
                        correlation_id=run_id, run_id=run_id, schedule_id=claim.schedule_id,
                        tenant_id=claim.tenant_id, fire_time=fire, reason=reason,
                    )  # fmt: skip
        if not res.run_ids:
            return res
        wanted = set(res.run_ids)
        payloads = [kw for claim in c.claims for kw in claim.kwargs if kw["run_id"] in wanted]
        if c.staged:
            self._staged(payloads)
            return res
        if c.direct:
            self._published(payloads, [self._store_now()], len(payloads))
            return res
        self._outbox_dirty = True
        if self._publish(payloads):
            self._outbox_dirty = False
        return res if self.is_leader else None

    # ---- leadership -----------------------------------------------------------------------
