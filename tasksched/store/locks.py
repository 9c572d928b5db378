"""Leases: a key holding the holder's token with a TTL (beat leadership, per-schedule run lock).

Only the holder (same token) can renew or release a lease; a holder that stops renewing
loses it when the TTL runs out, and the next :meth:`Lease.acquire` by anyone succeeds.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tasksched.store import Store


def new_token(label: str = "") -> str:
    """A unique holder token: host, pid and randomness (readable in status displays)."""
    base = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"
    return f"{label}:{base}" if label else base


class Lease:
    """One lease key held with ``token`` for ``ttl_s`` seconds at a time."""

    def __init__(self, store: Store, key: str, token: str, ttl_s: float):
        self._s = store
        self.key = key
        self.token = token
        self.ttl_ms = max(int(ttl_s * 1000), 1)

    def renew(self) -> bool:
        """Extend the lease by its TTL if it is still ours; False when it was lost."""
        return bool(self._s.scripts.run("lease_renew", [self.key], [self.token, self.ttl_ms]))

    def release(self) -> bool:
        """Give the lease up if it is still ours."""
        return bool(self._s.scripts.run("lease_release", [self.key], [self.token]))
