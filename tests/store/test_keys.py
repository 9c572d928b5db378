"""Redis Cluster: every key a beat script touches hashes to one slot."""

from __future__ import annotations

from redis.crc import key_slot

from tasksched.store.keys import Keys


def test_every_key_of_the_beat_scripts_shares_one_slot() -> None:
    for k in (Keys(), Keys("tenant-a")):
        keys = [
            k.beat_lock, k.beat_fence, k.control, k.due, k.beat_health, k.outbox,
            k.schedule("0123456789abcdef"), k.run("0123456789abcdef-1800000000"),
            k.runs("0123456789abcdef"),
            # The claim script builds run and schedule keys from these prefixes.
            k.schedule("") + "x", k.run("") + "y", k.runs("") + "z",
        ]
        slots = {key_slot(key.encode()) for key in keys}
        assert len(slots) == 1, dict(zip(keys, [key_slot(x.encode()) for x in keys], strict=True))
    assert key_slot(Keys().due.encode()) != key_slot(Keys("other").due.encode())
