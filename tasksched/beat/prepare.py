"""Claims planned and encoded before their fire time.

The tick ``PREPARE_LEAD_S`` before a due second reads what falls due then,
plans it as of that second and encodes its messages; the tick at that second only sends the
claims, so a burst's first claims reach Redis at once and Python's work is done while nothing
else happens. Nothing is written ahead: the page is a read (:meth:`BeatStore.due_page`) and each
claim checks, in its script, that the entry's score and its schedule's version are still what
was read. A schedule changed, paused or deleted meanwhile is stale for that claim and left to
the next tick, as any change between a tick's read and its claim. Prepared claims are sent only
by the term that read them, and only within ``PREPARED_LATE_S`` of their second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tasksched.beat.plan import bounded, plan_claims
from tasksched.store.beat import BeatStore, DueClaim

__all__ = ["PREPARED_LATE_S", "PREPARE_LEAD_S", "PREPARE_MAX", "Prepared", "prepare"]

# The tick before a due second comes this long before it (when it would come earlier), and
# plans until shortly before the second: time for about 10,000 entries here.
PREPARE_LEAD_S = 0.25
# Entries read and planned ahead at most (about 1.5 KB each with its message): a bigger burst's
# rest is read ahead by the claims, as before.
PREPARE_MAX = 10_000
# Prepared claims are dropped (the tick plans afresh) when sent later than this after their
# second: they were planned as of that second.
PREPARED_LATE_S = 1.0
# Planning ahead stops this long before the second comes, whatever is left of the page.
_MARGIN_S = 0.02

Encoder = Callable[[list[DueClaim]], "dict[str, str] | None"]


@dataclass(frozen=True)
class Prepared:
    """Claims planned for the due entries of one second, not sent yet."""

    head: float  # the due score (store time) they were read for
    fence: int  # the term that read them
    fire_mono: float  # time.monotonic() when ``head`` comes
    due: list[tuple[str, float]]  # the page read (ids, scores), in due order
    timing: list[list[str | None]]
    chunks: list[tuple[list[DueClaim], dict[str, str] | None]]  # claims and their messages
    planned: int  # the entries of ``due`` in ``chunks`` (a prefix)
    full: bool  # the page was full: more may be due at ``head``

    def usable(self, fence: int, now: float) -> bool:
        """Whether the term ``fence`` may send these at store time ``now``."""
        return fence == self.fence and self.head <= now <= self.head + PREPARED_LATE_S


def prepare(
    beat_store: BeatStore,
    head: float,
    fence: int,
    wait_s: float,
    default_grace_s: float,
    chunk_size: int,
    max_records: int,
    encode: Encoder,
) -> Prepared | None:
    """Read, plan and encode the entries due at ``head`` (``wait_s`` from now), within the
    time left before it; None when nothing is due then."""
    fire_mono = time.monotonic() + wait_s
    deadline = fire_mono - _MARGIN_S
    due, timing = beat_store.due_page(head, PREPARE_MAX)
    chunks: list[tuple[list[DueClaim], dict[str, str] | None]] = []
    i = 0
    while i < len(due) and time.monotonic() < deadline:
        claims = plan_claims(due[i : i + chunk_size], timing[i : i + chunk_size], head,
                             default_grace_s, deadline=deadline)  # fmt: skip
        i += len(claims)
        chunks.extend((chunk, encode(chunk)) for chunk in bounded(claims, max_records))
    if not chunks:
        return None
    return Prepared(head, fence, fire_mono, due, timing, chunks, i, len(due) >= PREPARE_MAX)
