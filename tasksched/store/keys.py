"""Every Redis key tasksched uses, in one place.

All keys share one prefix with a hash tag (``{tasksched}:...``) so that multi-key Lua
scripts also run on Redis Cluster (every key of a deployment lands in one slot).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """Key names for one deployment, from its prefix (``TASKSCHED_KEY_PREFIX``)."""

    prefix: str = "tasksched"

    @property
    def base(self) -> str:
        """``{prefix}:``, the hash-tagged start of every key."""
        return "{" + self.prefix + "}:"

    def schedule(self, schedule_id: str) -> str:
        """Hash: one schedule (definition, status, version, counters, times)."""
        return f"{self.base}schedule:{schedule_id}"

    def tenant(self, tenant_id: str) -> str:
        """Set: the ids of one tenant's schedules."""
        return f"{self.base}tenant:{tenant_id}"

    @property
    def tenants(self) -> str:
        """Set: every tenant id that has (or had) a schedule."""
        return f"{self.base}tenants"

    @property
    def due(self) -> str:
        """Sorted set: active schedule id -> next fire time (epoch seconds)."""
        return f"{self.base}due"

    @property
    def outbox(self) -> str:
        """Hash: run id -> dispatch payload, claimed by beat and not yet confirmed published."""
        return f"{self.base}outbox"

    @property
    def running(self) -> str:
        """Sorted set: run ids now ``running`` -> their start time (for the lost-run sweep)."""
        return f"{self.base}running"

    @property
    def pending(self) -> str:
        """Sorted set: ``queued``/``deferred`` run ids -> when the pending sweep ends them if no
        worker took them by then (their message was lost, or came too late)."""
        return f"{self.base}pending"

    def schedule_tomb(self, schedule_id: str) -> str:
        """String: a deleted schedule's short-lived tombstone (the deleting call's id), so that
        a delete retried after a lost reply answers "deleted" again."""
        return f"{self.base}tomb:schedule:{schedule_id}"

    def tomb(self, run_id: str) -> str:
        """String: a run id's tombstone (its last status), kept longer than any redelivery."""
        return f"{self.base}tomb:{run_id}"

    def run(self, run_id: str) -> str:
        """Hash: one run record."""
        return f"{self.base}run:{run_id}"

    def runs(self, schedule_id: str) -> str:
        """Sorted set: a schedule's run ids by time (capped)."""
        return f"{self.base}runs:{schedule_id}"

    @property
    def beat_lock(self) -> str:
        """String: the beat leader lease (token), with a TTL."""
        return f"{self.base}lock:beat"

    @property
    def beat_fence(self) -> str:
        """String: a counter, incremented at each new leadership (fencing token)."""
        return f"{self.base}beat:fence"

    @property
    def beat_claim(self) -> str:
        """Hash: the leader's last claim (its id and result), so a retried claim answers the
        same."""
        return f"{self.base}beat:claim"

    @property
    def beat_staged(self) -> str:
        """Sorted set: due seconds still to come whose runs are claimed ahead (member = the
        second as the claim wrote it, score = the second)."""
        return f"{self.base}beat:staged"

    def beat_staged_list(self, second: str) -> str:
        """List: the broker messages claimed ahead for one due second (``""``: the prefix)."""
        return f"{self.base}beat:staged:{second}"

    @property
    def beat_health(self) -> str:
        """Hash: the leader's id, last tick time, lag and counts, for status displays."""
        return f"{self.base}beat:health"

    def history(self, schedule_id: str) -> str:
        """List: a schedule's operator actions (e.g. a failure streak reset), newest first."""
        return f"{self.base}history:{schedule_id}"

    def run_lock(self, schedule_id: str) -> str:
        """String: the per-schedule run lease (token), with a TTL."""
        return f"{self.base}lock:run:{schedule_id}"

    @property
    def control(self) -> str:
        """Hash: the global start/stop switch (field ``enabled``)."""
        return f"{self.base}control"

    def feed(self, tenant_id: str) -> str:
        """List: a tenant's notification feed, newest first, capped."""
        return f"{self.base}feed:{tenant_id}"

    @property
    def dead_letters(self) -> str:
        """List: notifications that failed after their last retry, newest first, capped."""
        return f"{self.base}deadletters"

    def notify_payload(self, payload_id: str) -> str:
        """String: an (encrypted) ad-hoc notification config kept for a test send."""
        return f"{self.base}notify:{payload_id}"

    def admitted(self, host: str) -> str:
        """Hash: run id -> JSON of a run admitted on ``host`` (its node, memory budget, pool
        process, attempt token); the entry goes when the run ends or its run lock does."""
        return f"{self.base}admitted:{host}"

    @property
    def workers(self) -> str:
        """Hash: worker host -> JSON of its last resource readings (heartbeat)."""
        return f"{self.base}workers"

    @property
    def metrics(self) -> str:
        """Hash: global counters (runs by outcome, dispatches, notifications)."""
        return f"{self.base}metrics"
