"""The schedule store, run on fakeredis and on a real redis-server (the ``store`` fixture)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tasksched.errors import ConflictError, NotFoundError, SecretKeyMissingError, ValidationError
from tasksched.models import AutonomousConfig, RunStatus, RunTrigger, ScheduleSpec, ScheduleStatus
from tasksched.store import Store, cron_run_id

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def spec(
    tenant: str = "acme", name: str = "nightly", cron: str = "0 2 * * *", **cfg: Any
) -> ScheduleSpec:
    return ScheduleSpec(tenant_id=tenant, name=name, cron_expression=cron, config=cfg)


def dump(store: Store) -> dict[str, Any]:
    """Every key and value, to show that a refused write changed nothing."""
    out: dict[str, Any] = {}
    for key in sorted(store.redis.keys("*")):
        kind = store.redis.type(key)
        if kind == "hash":
            out[key] = store.redis.hgetall(key)
        elif kind == "set":
            out[key] = sorted(store.redis.smembers(key))
        elif kind == "zset":
            out[key] = store.redis.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            out[key] = store.redis.lrange(key, 0, -1)
        else:
            out[key] = store.redis.get(key)
    return out


def test_create_then_get_round_trips(store: Store) -> None:
    rec = store.schedules.create(
        spec(timezone="Europe/Berlin", safety_controls={"level": "strict"}), now=NOW
    )
    got = store.schedules.get(rec.id)
    assert got.tenant_id == "acme" and got.name == "nightly"
    assert got.cron_expression == "0 2 * * *" and got.timezone == "Europe/Berlin"
    assert got.status is ScheduleStatus.ACTIVE and got.version == 1
    assert got.config.safety_controls.quality_threshold == 0.9
    assert got.next_run == NOW + 3600  # 02:00 Berlin is 01:00 UTC in winter
    assert store.redis.zscore(store.keys.due, rec.id) == NOW + 3600
    assert rec.id in store.redis.smembers(store.keys.tenant("acme"))


def test_all_keys_share_one_hash_tag(store: Store) -> None:
    rec = store.schedules.create(spec(), now=NOW)
    for key in store.redis.keys("*"):
        assert key.startswith("{tasksched}:"), key
    assert store.keys.schedule(rec.id).startswith("{tasksched}:")


def test_list_by_tenant_only_returns_that_tenant(store: Store) -> None:
    a = store.schedules.create_many([spec(name=f"a{i}") for i in range(5)], now=NOW)
    store.schedules.create_many([spec(tenant="globex", name=f"g{i}") for i in range(3)], now=NOW)
    listed = store.schedules.list("acme")
    assert sorted(r.id for r in listed) == sorted(a)
    assert [r.name for r in listed] == [f"a{i}" for i in range(5)]
    assert len(store.schedules.list()) == 8
    assert store.schedules.tenants() == ["acme", "globex"]
    assert store.schedules.count_by_status() == {"active": 8, "paused": 0, "total": 8}


def test_unknown_id_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.schedules.get("nope")
    for op in (store.schedules.pause, store.schedules.resume, store.schedules.delete):
        with pytest.raises(NotFoundError):
            op("nope")
    with pytest.raises(NotFoundError):
        store.schedules.update("nope", {"name": "x"})


def test_update_changes_cron_and_due_index(store: Store) -> None:
    rec = store.schedules.create(spec(), now=NOW)
    new = store.schedules.update(rec.id, {"cron_expression": "*/5 * * * *"}, now=NOW)
    assert new.version == 2
    assert new.cron_expression == "*/5 * * * *"
    assert new.config.training_schedule == "*/5 * * * *"
    assert store.redis.zscore(store.keys.due, rec.id) == NOW + 300
    tz = store.schedules.update(
        rec.id, {"timezone": "Asia/Tokyo", "cron_expression": "0 9 * * *"}, now=NOW
    )
    assert tz.timezone == "Asia/Tokyo"
    assert tz.next_run == NOW + 86400  # 09:00 Tokyo is 00:00 UTC: strictly after now, so tomorrow


def test_partial_config_update_keeps_the_rest(store: Store) -> None:
    rec = store.schedules.create(
        spec(safety_controls={"level": "strict", "max_memory_usage_mb": 512}), now=NOW
    )
    new = store.schedules.update(rec.id, {"config": {"quality_threshold": 0.95}})
    sc = new.config.safety_controls
    assert sc.quality_threshold == 0.95 and sc.max_memory_usage_mb == 512
    assert sc.level.value == "strict"
    relevel = store.schedules.update(
        rec.id, {"config": {"safety_controls": {"level": "permissive"}}}
    )
    sc2 = relevel.config.safety_controls
    # Explicit fields stay; the rest follows the new preset.
    assert sc2.max_memory_usage_mb == 512 and sc2.quality_threshold == 0.95
    assert sc2.validation_threshold == 0.7 and sc2.rollback_on_degradation is False


def test_stale_update_is_refused_not_merged(store: Store) -> None:
    rec = store.schedules.create(spec(), now=NOW)
    store.schedules.update(rec.id, {"name": "renamed"}, expected_version=1)
    before = dump(store)
    with pytest.raises(ConflictError) as exc:
        store.schedules.update(rec.id, {"name": "stale"}, expected_version=1)
    assert exc.value.actual_version == 2
    assert dump(store) == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cron_expression": "99 * * * *"}, "cron_expression"),
        ({"timezone": "Nowhere/Land"}, "timezone"),
        ({"config": {"timezone": "Nowhere/Land"}}, "config.timezone"),
        ({"config": {"quality_threshold": 3}}, "config.quality_threshold"),
        ({"name": ""}, "name"),
        ({"status": "active"}, "status"),
        ({"tenant_id": "globex"}, "tenant_id"),
    ],
)
def test_bad_update_names_the_field_and_changes_nothing(
    store: Store, changes: dict[str, Any], field: str
) -> None:
    rec = store.schedules.create(spec(), now=NOW)
    before = dump(store)
    with pytest.raises(ValidationError) as exc:
        store.schedules.update(rec.id, changes)
    assert exc.value.field == field
    assert dump(store) == before


def test_pause_and_resume(store: Store) -> None:
    rec = store.schedules.create(spec(cron="*/10 * * * *"), now=NOW)
    paused = store.schedules.pause(rec.id, now=NOW)
    assert paused.status is ScheduleStatus.PAUSED and paused.next_run is None
    assert store.redis.zscore(store.keys.due, rec.id) is None
    assert store.schedules.count_by_status()["paused"] == 1
    resumed = store.schedules.resume(rec.id, now=NOW + 3605)
    assert resumed.status is ScheduleStatus.ACTIVE
    assert resumed.next_run == NOW + 4200
    assert store.redis.zscore(store.keys.due, rec.id) == NOW + 4200
    assert resumed.version == 3


def test_update_of_a_paused_schedule_keeps_it_out_of_due(store: Store) -> None:
    rec = store.schedules.create(spec(), now=NOW)
    store.schedules.pause(rec.id)
    store.schedules.update(rec.id, {"cron_expression": "* * * * *"})
    assert store.redis.zscore(store.keys.due, rec.id) is None


def test_delete_removes_indexes_and_runs(store: Store) -> None:
    rec = store.schedules.create(spec(), now=NOW)
    other = store.schedules.create(spec(name="other"), now=NOW)
    for i in range(3):
        store.runs.add(
            cron_run_id(rec.id, NOW + i),
            rec.id,
            "acme",
            RunStatus.SUCCEEDED,
            RunTrigger.CRON,
            score=NOW + i,
        )
    store.schedules.delete(rec.id)
    keys = store.redis.keys("*")
    # Nothing but tombstones (the schedule's answers a retried delete for a minute).
    assert [k for k in keys if rec.id in k] == [store.keys.schedule_tomb(rec.id)]
    assert store.redis.zrange(store.keys.due, 0, -1) == [other.id]
    assert store.redis.smembers(store.keys.tenant("acme")) == {other.id}


SECRET_NOTIF = {
    "types": ["webhook", "email"],
    "webhook_url": "https://hooks.example.com/x",
    "webhook_headers": {"Authorization": "Bearer tok-SECRET-1"},
    "webhook_secret": "sign-SECRET-2",
    "email_smtp_host": "smtp.example.com",
    "email_recipients": ["ops@example.com"],
    "email_password": "pw-SECRET-3",
}


def test_secrets_are_encrypted_at_rest_and_masked_on_read(store: Store) -> None:
    rec = store.schedules.create(spec(notifications=SECRET_NOTIF), now=NOW)
    raw = json.dumps(dump(store))
    for secret in ("tok-SECRET-1", "sign-SECRET-2", "pw-SECRET-3"):
        assert secret not in raw
    status = json.dumps(store.schedules.get(rec.id).status_dict())
    for secret in ("tok-SECRET-1", "sign-SECRET-2", "pw-SECRET-3"):
        assert secret not in status
    notif = store.schedules.get(rec.id).status_dict()["config"]["notifications"]
    assert notif["email_password"] == "********"
    assert notif["webhook_headers"] == {"Authorization": "********"}
    full = store.schedules.config_with_secrets(store.schedules.get(rec.id))
    assert full.notifications.webhook_headers == {"Authorization": "Bearer tok-SECRET-1"}
    assert full.notifications.email_password is not None
    assert full.notifications.email_password.get_secret_value() == "pw-SECRET-3"


def test_updating_other_fields_keeps_secrets(store: Store) -> None:
    rec = store.schedules.create(spec(notifications=SECRET_NOTIF), now=NOW)
    store.schedules.update(rec.id, {"config": {"notifications": {"webhook_timeout": 5}}})
    full = store.schedules.config_with_secrets(store.schedules.get(rec.id))
    assert full.notifications.webhook_secret is not None
    assert full.notifications.webhook_secret.get_secret_value() == "sign-SECRET-2"
    assert full.notifications.webhook_timeout == 5
    # the mask sent back by a client does not overwrite the secret
    store.schedules.update(rec.id, {"config": {"notifications": {"webhook_secret": "********"}}})
    full = store.schedules.config_with_secrets(store.schedules.get(rec.id))
    assert full.notifications.webhook_secret is not None
    assert full.notifications.webhook_secret.get_secret_value() == "sign-SECRET-2"


def test_storing_a_secret_without_a_key_fails_naming_the_variable(no_key_store: Store) -> None:
    before = dump(no_key_store)
    with pytest.raises(SecretKeyMissingError) as exc:
        no_key_store.schedules.create(spec(notifications=SECRET_NOTIF), now=NOW)
    assert "TASKSCHED_SECRET_KEY" in str(exc.value)
    assert dump(no_key_store) == before
    # without secrets, no key is needed
    no_key_store.schedules.create(spec(), now=NOW)


def test_stored_config_leaves_defaults_out(store: Store) -> None:
    rec = store.schedules.create(spec(), now=NOW)
    stored = store.redis.hgetall(store.keys.schedule(rec.id))
    assert "config" not in stored and "description" not in stored
    # No grace stored: beat applies TASKSCHED_BEAT_DEFAULT_GRACE_S.
    assert stored["tz"] == "UTC" and stored["misfire"] == "run_once:"  # beat reads these
    assert store.schedules.get(rec.id).config == AutonomousConfig(training_schedule="0 2 * * *")


def test_jitter_shifts_next_run_by_a_stable_offset(store: Store) -> None:
    from tasksched.cron import jitter_offset_s

    rec = store.schedules.create(spec(jitter_s=600), now=NOW)
    assert rec.next_run == NOW + 2 * 3600 + jitter_offset_s(rec.id, 600)


def test_bulk_create_shares_work_and_writes_everything(store: Store) -> None:
    cfg = AutonomousConfig(safety_controls={"level": "strict"})
    ids = store.schedules.create_many(
        [
            ScheduleSpec(
                tenant_id=f"t{i % 10}", name=f"s{i}", cron_expression="0 2 * * *", config=cfg
            )
            for i in range(500)
        ],
        now=NOW,
        chunk=128,
    )
    assert len(set(ids)) == 500
    assert store.redis.zcard(store.keys.due) == 500
    assert len(store.schedules.list("t3")) == 50
    assert store.schedules.get(ids[-1]).config.safety_controls.level.value == "strict"


def test_headers_sent_back_masked_keep_their_stored_values(store: Store) -> None:
    rec = store.schedules.create(spec(notifications=SECRET_NOTIF), now=NOW)
    shown = store.schedules.get(rec.id).status_dict()["config"]["notifications"]["webhook_headers"]
    assert shown == {"Authorization": "********"}
    store.schedules.update(rec.id, {"config": {"notifications": {"webhook_headers": shown}}})
    full = store.schedules.config_with_secrets(store.schedules.get(rec.id))
    assert full.notifications.webhook_headers == {"Authorization": "Bearer tok-SECRET-1"}
    before = dump(store)
    with pytest.raises(ValidationError) as exc:  # masked and new mixed: 422, as documented
        store.schedules.update(
            rec.id,
            {"config": {"notifications": {"webhook_headers": {**shown, "X-Team": "ml"}}}},
        )
    assert exc.value.field == "config.notifications.webhook_headers"
    assert "mixes masked and new" in exc.value.message
    assert dump(store) == before
    with pytest.raises(ValidationError) as exc:
        store.schedules.update(
            rec.id, {"config": {"notifications": {"webhook_headers": {"X-New": "********"}}}}
        )
    assert exc.value.field == "config.notifications.webhook_headers"
    assert dump(store) == before


def test_a_stored_old_form_keeps_working_but_cannot_be_written_again(store: Store) -> None:
    rec = store.schedules.create(spec(cron="*/15 * * * *"), now=NOW)
    # Written before create refused value/step forms: straight into the hash, as it was then.
    store.redis.hset(store.keys.schedule(rec.id), "cron", "59/15 * * * *")
    renamed = store.schedules.update(rec.id, {"name": "renamed"}, now=NOW)
    assert renamed.name == "renamed" and renamed.cron_expression == "59/15 * * * *"
    before = dump(store)
    with pytest.raises(ValidationError) as exc:
        store.schedules.update(rec.id, {"cron_expression": "* * * * 6/1"}, now=NOW)
    assert exc.value.field == "cron_expression" and "croniter 6" in exc.value.message
    assert dump(store) == before
    fixed = store.schedules.update(rec.id, {"cron_expression": "59 * * * *"}, now=NOW)
    assert fixed.cron_expression == "59 * * * *"


def test_next_run_comes_from_redis_time_not_the_host_clock(
    real_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time as time_module

    host_clock = time_module.time
    monkeypatch.setattr(time_module, "time", lambda: host_clock() + 7200)  # a host 2 h fast
    rec = real_store.schedules.create(spec(cron="* * * * *"))
    assert rec.next_run is not None and 0 < rec.next_run - real_store.time() <= 60
    rec = real_store.schedules.update(rec.id, {"cron_expression": "*/2 * * * *"})
    assert rec.next_run is not None and 0 < rec.next_run - real_store.time() <= 120
    real_store.schedules.pause(rec.id)
    rec = real_store.schedules.resume(rec.id)
    assert rec.next_run is not None and 0 < rec.next_run - real_store.time() <= 120
    assert abs(rec.updated_at - real_store.time()) < 60


def test_the_engines_reading_is_recorded_when_the_expression_is_written(store: Store) -> None:
    from tasksched.cron.compat import CronReading, read

    rec = store.schedules.create(spec(cron="*/15 * * * *"), now=NOW)
    key = store.keys.schedule(rec.id)
    assert CronReading.from_text(store.redis.hget(key, "cron_reading")) == read("*/15 * * * *")
    store.redis.hset(key, "cron_reading", "croniter 6.0.0|0123456789abcdef|1")
    store.schedules.update(rec.id, {"name": "kept"}, now=NOW)  # same expression: kept as is
    assert store.redis.hget(key, "cron_reading") == "croniter 6.0.0|0123456789abcdef|1"
    store.schedules.update(rec.id, {"cron_expression": "0 * * * *"}, now=NOW)
    assert CronReading.from_text(store.redis.hget(key, "cron_reading")) == read("0 * * * *")


def test_stored_crons_lists_every_schedule_with_its_reading(store: Store) -> None:
    from tasksched.cron.compat import meaning_changes, read
    from tasksched.store.crons import stored_crons

    a = store.schedules.create(spec(tenant="a", cron="*/15 * * * *"), now=NOW)
    b = store.schedules.create(spec(tenant="b", cron="0 2 * * *"), now=NOW)
    # One written before readings were recorded, with a form whose meaning changed.
    store.redis.hset(store.keys.schedule(b.id), "cron", "59/15 * * * *")
    store.redis.hdel(store.keys.schedule(b.id), "cron_reading")
    crons = {c.schedule_id: c for c in stored_crons(store)}
    assert crons[a.id].reading == read("*/15 * * * *")
    assert crons[b.id].expression == "59/15 * * * *" and crons[b.id].reading is None
    assert [f.schedule_id for f in meaning_changes(crons.values())] == [b.id]


def test_a_dst_policy_is_a_timing_field_and_moves_the_next_run(store: Store) -> None:
    # New York, 1 November 2026: 01:30 happens at 05:30 and again at 06:30 UTC.
    before = 1793510000.0  # 2026-11-01T03:13:20Z, 23:13 EDT the evening before
    rec = store.schedules.create(
        spec(cron="30 1 * * *", timezone="America/New_York"), now=before
    )
    key = store.keys.schedule(rec.id)
    assert not store.redis.hget(key, "dst") and rec.next_run == 1793511000.0  # 05:30Z
    rec = store.schedules.update(rec.id, {"config": {"duplicate_dst": "last"}}, now=before)
    assert store.redis.hget(key, "dst") == "last:auto"
    assert rec.next_run == 1793514600.0  # 06:30Z, the second 01:30
    assert rec.config.duplicate_dst.value == "last" and rec.config.missing_dst.value == "auto"
    assert "duplicate_dst" not in store.redis.hget(key, "config")  # stored once, as timing


@pytest.mark.parametrize("learner", ["subprocess:Popen", "tests.learners.marker:Touch", "nope"])
def test_only_registered_learners_are_written(store: Store, learner: str) -> None:
    rec = store.schedules.create(spec(), now=NOW)
    before = dump(store)
    with pytest.raises(ValidationError) as exc:
        store.schedules.create(spec(learner=learner), now=NOW)
    assert exc.value.field == "config.learner"
    assert "registered: demo, scripted" in exc.value.message
    with pytest.raises(ValidationError) as exc:
        store.schedules.update(rec.id, {"config": {"learner": learner}})
    assert exc.value.field == "config.learner"
    from tasksched.store.transfer import export_document, import_document

    doc = export_document(store)
    doc["schedules"][0]["config"]["learner"] = learner
    with pytest.raises(ValidationError) as exc:
        import_document(store, doc)
    assert exc.value.field == "schedules[0].config.learner"
    assert dump(store) == before
    assert store.schedules.update(rec.id, {"config": {"learner": "scripted"}}).config.learner == (
        "scripted"
    )
