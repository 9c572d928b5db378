"""Which runs a host admitted, so that budgets add up across a worker's pool processes.

A prefork worker (``-c 2``) runs each task in its own pool process: two runs that start
together must see each other's budgets, which no process-local state gives. The ledger is one
Redis hash per host (:meth:`Keys.admitted`, run id -> ``{node, budget_mb, pid, token,
schedule_id, at}``), written with WATCH/MULTI: a process reads the entries, decides (the pure
:func:`tasksched.safety.check_resources` on its measurements), and adds its own entry only if
nobody changed the hash meanwhile; otherwise it reads and decides again. Two runs starting
together are thus decided one after the other, each seeing the other.

Why Redis and not a lock file: every run already goes through Redis (its claim, its lock),
the ledger is visible to operators (``HGETALL``), and it does not depend on the pool processes
sharing a state directory on a file system with working locks.

No leaks: an entry names its attempt's run-lock token; an entry whose run lock no longer holds
that token (the run ended, or its process was SIGKILLed and the lock expired) is dropped by the
next admission on the host, and the run's own end removes it (:meth:`AdmissionLedger.release`).
The hash expires ``ttl_s`` after the last admission (longer than any run may take), so a host
that is gone for good leaves nothing behind.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import WatchError

if TYPE_CHECKING:
    from tasksched.store import Store

__all__ = ["AdmissionLedger", "Entry"]

_ATTEMPTS = 50  # WATCH retries: each one lost only to another process admitting meanwhile


@dataclass(frozen=True)
class Entry:
    """A run admitted on the host."""

    run_id: str
    node: str  # the worker (Celery node name) that admitted it
    budget_mb: float
    pid: int  # the pool process running it (its training child is below it)
    token: str  # the attempt's run-lock token
    schedule_id: str
    at: float

    def to_json(self) -> str:
        """The stored form."""
        d = asdict(self)
        del d["run_id"]
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_json(cls, run_id: str, text: str) -> Entry | None:
        """The entry, or None for a value this version cannot read (dropped as stale)."""
        try:
            d: dict[str, Any] = json.loads(text)
            return cls(run_id, str(d["node"]), float(d["budget_mb"]), int(d["pid"]),
                       str(d["token"]), str(d["schedule_id"]), float(d["at"]))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None


class AdmissionLedger:
    """The runs admitted on one ``host`` (its memory is what they share)."""

    def __init__(self, store: Store, host: str, ttl_s: float):
        self.store = store
        self.key = store.keys.admitted(host)
        self.ttl_ms = max(int(ttl_s * 1000), 1000)

    def entries(self) -> list[Entry]:
        """The entries as stored (live or not)."""
        raw = self.store.redis.hgetall(self.key)
        return [e for rid, v in raw.items() if (e := Entry.from_json(str(rid), str(v)))]

    def admit(self, entry: Entry, decide: Callable[[list[Entry]], bool]) -> bool:
        """Add ``entry`` if ``decide(live entries)`` says so, atomically with respect to every
        other admission on this host; returns the decision. Stale entries (their run lock gone
        or another's) are dropped on the way; ``decide`` may be called more than once."""
        k = self.store.keys
        with self.store.redis.pipeline(transaction=True) as pipe:
            for _ in range(_ATTEMPTS):
                try:
                    pipe.watch(self.key)
                    raw: dict[str, str] = pipe.hgetall(self.key)
                    parsed = [(str(rid), Entry.from_json(str(rid), str(v)))
                              for rid, v in raw.items() if rid != entry.run_id]  # fmt: skip
                    known = [e for _, e in parsed if e is not None]
                    locks = [k.run_lock(e.schedule_id) for e in known]
                    holders = pipe.mget(locks) if locks else []
                    held = {e.run_id for e, h in zip(known, holders, strict=True) if h == e.token}
                    live = [e for e in known if e.run_id in held]
                    stale = [rid for rid, _ in parsed if rid not in held]
                    ok = decide(live)
                    pipe.multi()
                    if stale:
                        pipe.hdel(self.key, *stale)
                    if ok:
                        pipe.hset(self.key, entry.run_id, entry.to_json())
                        pipe.pexpire(self.key, self.ttl_ms)
                    pipe.execute()
                    return ok
                except WatchError:
                    continue  # another process admitted or released meanwhile: decide again
        raise RuntimeError(f"admission on {self.key} kept changing ({_ATTEMPTS} attempts)")

    def release(self, run_id: str) -> None:
        """The run ended: its memory is no longer promised."""
        self.store.redis.hdel(self.key, run_id)
