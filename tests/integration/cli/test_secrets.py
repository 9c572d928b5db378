"""`tasksched secrets rotate` as a real process on a store with many schedules: every secret
is re-encrypted under the new key, or (one token no key opens) nothing changes."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from cryptography.fernet import Fernet

from tasksched.errors import SecretDecryptError
from tasksched.manager import SchedulerManager
from tasksched.settings import Settings
from tasksched.store import Store
from tests.helpers import child_env

N = 400


def _rotate(redis_url: str, new: str, old: str | None) -> subprocess.CompletedProcess[str]:
    env = child_env(TASKSCHED_REDIS_URL=redis_url, TASKSCHED_SECRET_KEY=new)
    if old is not None:
        env["TASKSCHED_SECRET_KEY_PREVIOUS"] = old
    return subprocess.run([sys.executable, "-m", "tasksched.cli", "secrets", "rotate"], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _populate(redis_url: str, key: str) -> tuple[Store, list[str]]:
    store = Store(settings=Settings(redis_url=redis_url, secret_key=key))
    mgr = SchedulerManager(store=store)
    items: list[dict[str, Any]] = [
        {"tenant_id": f"t{i % 7}", "name": f"s{i}", "cron_expression": "0 2 * * *",
         "config": {"notifications": {"types": ["webhook"], "webhook_url": "https://h.example/",
                                      "webhook_secret": f"whsec-{i}",
                                      "webhook_headers": {"Authorization": f"Bearer {i}"}}}}
        for i in range(N)
    ]  # fmt: skip
    items.append({"tenant_id": "t0", "name": "plain", "cron_expression": "@daily"})  # none
    return store, mgr.create_training_schedules(items)


def _secrets(store: Store, ids: list[str]) -> dict[str, dict[str, Any]]:
    return {r.id: store.box.decrypt(r.secrets_token) for r in store.schedules.get_many(ids)
            if r.secrets_token}  # fmt: skip


def test_rotate_reencrypts_every_secret_under_the_new_key(redis_url: str) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    store, ids = _populate(redis_url, old)
    before = _secrets(store, ids)
    assert len(before) == N
    refused = _rotate(redis_url, new, None)
    assert refused.returncode == 2 and "TASKSCHED_SECRET_KEY_PREVIOUS" in refused.stderr
    done = _rotate(redis_url, new, old)
    assert done.returncode == 0, done.stderr
    assert f"re-encrypted the secrets of {N} schedules" in done.stdout
    only_new = Store(settings=Settings(redis_url=redis_url, secret_key=new))
    assert _secrets(only_new, ids) == before  # the same secrets, readable with the new key
    stale = Store(settings=Settings(redis_url=redis_url, secret_key=old))
    rec = stale.schedules.get(ids[0])
    try:
        stale.box.decrypt(rec.secrets_token or "")
        raise AssertionError("the old key still opens a rotated secret")
    except SecretDecryptError:
        pass
    for s in (store, only_new, stale):
        s.redis.close()


def test_rotate_is_all_or_nothing(redis_url: str) -> None:
    old, new, other = (Fernet.generate_key().decode() for _ in range(3))
    store, ids = _populate(redis_url, old)
    # One schedule's secrets were written under a key that is neither old nor new.
    foreign = Store(redis_client=store.redis,
                    settings=Settings(redis_url=redis_url, secret_key=other))  # fmt: skip
    victim = ids[N // 2]
    store.redis.hset(store.keys.schedule(victim), "secrets",
                     foreign.box.encrypt({"webhook_secret": "x"}))  # fmt: skip
    tokens = {sid: store.redis.hget(store.keys.schedule(sid), "secrets") for sid in ids}
    failed = _rotate(redis_url, new, old)
    assert failed.returncode != 0 and victim in failed.stderr, failed.stderr
    assert {sid: store.redis.hget(store.keys.schedule(sid), "secrets") for sid in ids} == tokens
    store.redis.close()
