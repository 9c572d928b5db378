"""What beat's dispatching did: this process's counters and one tick's summary (its log line)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = ["DispatchStats", "TickSummary"]


@dataclass
class DispatchStats:
    """Counters of this process (health in Redis is the shared view)."""

    dispatched: int = 0
    errors: int = 0
    lateness_s: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))


@dataclass
class TickSummary:
    """What one tick did, for its one INFO line."""

    dispatched: int = 0
    missed: int = 0
    stale: int = 0
    claims: int = 0
    drained: int = 0
    staged: int = 0  # runs claimed ahead of their second (their messages staged)
    released: int = 0  # staged runs moved to the broker (also counted in ``dispatched``)
    worst_lateness_s: float = 0.0

    def busy(self) -> bool:
        return bool(self.dispatched or self.missed or self.stale or self.drained or self.staged)
