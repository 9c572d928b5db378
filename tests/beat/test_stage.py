"""When a due second is claimed ahead and how far ahead (tasksched.beat.stage), as tables."""

from __future__ import annotations

import pytest

from tasksched.beat.stage import STAGE_BASE_S, STAGE_MAX_LEAD_S, stage_lead_s, stages
from tasksched.store.beat import TickState


@pytest.mark.parametrize(
    ("count", "lead_s"),
    [
        (0, STAGE_BASE_S),
        (5_000, STAGE_BASE_S + 0.5),
        (10_000, STAGE_BASE_S + 1.0),
        (50_000, STAGE_BASE_S + 5.0),
        (97_500, STAGE_MAX_LEAD_S),
        (1_000_000, STAGE_MAX_LEAD_S),
    ],
)
def test_the_lead_grows_with_the_burst_up_to_its_cap(count: int, lead_s: float) -> None:
    assert stage_lead_s(count) == pytest.approx(lead_s)


def tick(head: float | None = 110.0, count: int = 6000, staged: float | None = None,
         enabled: bool = True, now: float = 100.0) -> TickState:  # fmt: skip
    return TickState(True, False, 1, now, enabled, head, "me", head_count=count,
                     staged_head=staged)  # fmt: skip


@pytest.mark.parametrize(
    ("state", "min_entries", "expected"),
    [
        (tick(), 5000, True),
        (tick(count=4999), 5000, False),  # a small second: prepared, claimed at it
        (tick(count=1), 1, True),
        (tick(), 0, False),  # 0: never
        (tick(head=None, count=0), 5000, False),  # nothing stored due
        (tick(head=100.0), 5000, False),  # due now: claimed at once
        (tick(head=99.0), 5000, False),
        (tick(enabled=False), 5000, False),  # dispatching switched off
        (tick(staged=110.0), 5000, True),  # this second's claims ahead go on
        (tick(count=10, staged=110.0), 5000, True),  # ... to its last entry
        (tick(staged=105.0), 5000, False),  # another second is staged: one at a time
    ],
)
def test_which_seconds_are_claimed_ahead(
    state: TickState, min_entries: int, expected: bool
) -> None:
    assert stages(state, min_entries) is expected
