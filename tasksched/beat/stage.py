"""Claiming a big due second ahead of it: when, and how far ahead (pure).

A second with at least ``beat_stage_min`` entries due (a burst; 5,000 by default) is claimed
before it comes, when the broker is this Redis. The claims write the run records as usual but
push the messages to that second's staged list (``claim_batch.lua``'s "stage" mode); the
leader's tick at the second moves the whole list to the broker's queue in one step
(``leader_tick.lua``: a RENAME when the queue is empty). So a burst reaches the broker at its
second, whatever its size: the claims' work (about 40 us of Redis time per run) is done in the
seconds before.

Claiming starts ``stage_lead_s(count)`` before the second: enough time for ``count`` entries at
``STAGE_RATE_PER_S`` (about half what a burst reaches here, two cores shared with Redis), capped
at ``STAGE_MAX_LEAD_S``. One second is staged at a time (the next one only once it is
released), so a schedule has at most one run claimed ahead: the one its ``staged`` field names,
which an update that moves or pauses the schedule before that second cancels
(``update_schedule.lua``). Smaller seconds are prepared ahead (:mod:`tasksched.beat.prepare`)
and claimed at the second.
"""

from __future__ import annotations

from tasksched.store.beat import TickState

__all__ = ["STAGE_BASE_S", "STAGE_MAX_LEAD_S", "STAGE_RATE_PER_S", "stage_lead_s", "stages"]

# Claims per second assumed when choosing how early to start (a burst of claims reaches about
# 20,000 a second on two cores: the lead leaves room for a busy machine).
STAGE_RATE_PER_S = 10_000
# Claiming starts at least this long before the second (ticks and the first read), and at
# most STAGE_MAX_LEAD_S before it (how early a run record can exist before its fire time).
STAGE_BASE_S = 0.25
STAGE_MAX_LEAD_S = 10.0


def stage_lead_s(count: int) -> float:
    """How long before a second with ``count`` entries due its claims start."""
    return min(STAGE_MAX_LEAD_S, STAGE_BASE_S + max(count, 0) / STAGE_RATE_PER_S)


def stages(st: TickState, min_entries: int) -> bool:
    """Whether the due head ``st.head`` is a second to claim ahead: still to come, with at
    least ``min_entries`` (> 0) entries, and no other second staged and not yet released (one
    at a time); or the second being staged, whatever is left of it."""
    if not st.enabled or st.head is None or st.head <= st.now or min_entries <= 0:
        return False
    if st.staged_head is None:
        return st.head_count >= min_entries
    return st.staged_head == st.head
