"""The run lock, renewed from the moment of the claim until the run's record is final.

:class:`LeaseKeeper` renews the schedule's run lock every third of its TTL in a thread. Its
:meth:`~LeaseKeeper.ok` turns False when a renewal found the lock gone or another's, or when no
renewal succeeded for the TTL minus a margin counted from when that renewal was *sent*: the lock
may then expire in Redis any moment, and the attempt must stop before anyone else can take the
run over (a lost run is swept once its lock is gone). So a slow ``count_available_data``, a long
learner import or a Redis blip shorter than the TTL never lets a second attempt start.
"""

from __future__ import annotations

import threading
import time

from tasksched.store.locks import Lease

__all__ = ["LeaseKeeper"]


class LeaseKeeper:
    """Renews ``lease`` every ``ttl_s / 3`` until :meth:`stop`; :meth:`ok` says if still held."""

    def __init__(self, lease: Lease, ttl_s: float):
        self.lease = lease
        self.ttl_s = ttl_s
        # Stop this long before the lock could expire in Redis.
        self._margin_s = min(0.5, ttl_s / 6.0)
        self._lost = threading.Event()
        self._stop = threading.Event()
        # The claim took the lock just now: count from here.
        self._held_since = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="tasksched-lease", daemon=True)

    def start(self) -> LeaseKeeper:
        """Start renewing in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop renewing (the record is final; the finish released the lock)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def __enter__(self) -> LeaseKeeper:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stop.wait(self.ttl_s / 3.0):
            sent = time.monotonic()
            try:
                renewed = self.lease.renew()
            except Exception:
                continue  # the deadline in ok() decides
            if not renewed:
                self._lost.set()
                return
            self._held_since = sent

    def ok(self) -> bool:
        """False once the lock was lost or may be about to expire unrenewed."""
        if self._lost.is_set():
            return False
        if time.monotonic() - self._held_since > self.ttl_s - self._margin_s:
            self._lost.set()
            return False
        return True
