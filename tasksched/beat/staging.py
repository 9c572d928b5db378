"""The tick's side of claiming bursts ahead of their second: whether to, and what was staged and
released (a mixin of :class:`~tasksched.beat.tick.Ticker`; the rules are in
:mod:`tasksched.beat.stage`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from tasksched.beat.publishing import Publishing
from tasksched.beat.stage import stage_lead_s, stages
from tasksched.logs import log_event
from tasksched.store.beat import TickState

logger = logging.getLogger("tasksched.beat")


class Staging(Publishing):
    """Which due second this leader claims ahead, and the counts (state set by ``Ticker``)."""

    stage_min: int
    # (head, entries there) of a staging pass that claimed nothing: not tried again as is.
    _stage_stuck: tuple[float, int] | None

    def _stages(self, st: TickState) -> bool:
        """Whether the due head is a second this leader claims ahead (when its time comes)."""
        return (
            self.direct
            and stages(st, self.stage_min)
            and self._stage_stuck != (st.head, st.head_count)
        )

    def _stage_now(self, st: TickState) -> bool:
        """Whether this tick claims the due head's second ahead."""
        if not self._stages(st):
            return False
        assert st.head is not None
        # A second whose claims ahead have begun is staged on, without waiting again.
        begun = st.staged_head == st.head
        return begun or st.head - self._store_now() <= stage_lead_s(st.head_count)

    def _staged(self, payloads: Sequence[Mapping[str, Any]]) -> None:
        """Count (and at DEBUG log) runs a claim staged; dispatched once released."""
        self._summary.staged += len(payloads)
        if logger.isEnabledFor(logging.DEBUG):
            for p in payloads:
                log_event(
                    logger, logging.DEBUG, "run claimed ahead", event="run.staged",
                    correlation_id=p["run_id"], run_id=p["run_id"],
                    schedule_id=p["schedule_id"], tenant_id=p["tenant_id"],
                    fire_time=p["fire_time"],
                )  # fmt: skip

    def _released(self, st: TickState) -> None:
        """Count the staged runs the tick's leader_tick moved to the broker."""
        self.stats.dispatched += st.released
        self._summary.dispatched += st.released
        self._summary.released += st.released
