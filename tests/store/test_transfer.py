"""Export and import: a versioned document, secrets kept encrypted, all or nothing."""

from __future__ import annotations

import copy
import json

import pytest
from cryptography.fernet import Fernet

from tasksched.errors import ValidationError
from tasksched.store import Store
from tasksched.store.transfer import export_document, import_document
from tests.store.test_schedules import NOW, SECRET_NOTIF, dump, spec


def _seed(store: Store) -> list[str]:
    ids = store.schedules.create_many(
        [
            spec(name="a"),
            spec(name="b", notifications=SECRET_NOTIF),
            spec(tenant="globex", name="g"),
        ],
        now=NOW,
    )
    store.schedules.pause(ids[2])
    return ids


def test_export_is_versioned_and_has_no_clear_secrets(store: Store) -> None:
    ids = _seed(store)
    doc = export_document(store)
    assert doc["format"] == "tasksched.export" and doc["version"] == 1
    assert sorted(s["id"] for s in doc["schedules"]) == sorted(ids)
    text = json.dumps(doc)
    for secret in ("tok-SECRET-1", "sign-SECRET-2", "pw-SECRET-3"):
        assert secret not in text
    assert len(export_document(store, "globex")["schedules"]) == 1


def test_round_trip_into_an_empty_store_keeps_everything(store: Store) -> None:
    ids = _seed(store)
    doc = json.loads(json.dumps(export_document(store)))
    before = {r.id: r.status_dict() for r in store.schedules.list()}
    store.redis.flushall()
    assert import_document(store, doc) == [s["id"] for s in doc["schedules"]]
    after = {r.id: r.status_dict() for r in store.schedules.list()}
    assert sorted(after) == sorted(ids)
    for sid, old in before.items():
        new = after[sid]
        for field in ("tenant_id", "name", "cron_expression", "timezone", "status", "config"):
            assert new[field] == old[field], field
    full = store.schedules.config_with_secrets(store.schedules.get(ids[1]))
    assert full.notifications.webhook_headers == {"Authorization": "Bearer tok-SECRET-1"}
    assert store.redis.zscore(store.keys.due, ids[2]) is None  # paused stays paused


def test_one_bad_schedule_means_nothing_is_written(store: Store) -> None:
    _seed(store)
    doc = export_document(store)
    store.redis.flushall()
    bad = copy.deepcopy(doc)
    bad["schedules"][2]["cron_expression"] = "not a cron"
    before = dump(store)
    with pytest.raises(ValidationError) as exc:
        import_document(store, bad)
    assert exc.value.field == "schedules[2].cron_expression"
    assert dump(store) == before


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(format="other"), "format"),
        (lambda d: d.update(version=99), "version"),
        (lambda d: d.update(schedules="x"), "schedules"),
        (lambda d: d["schedules"][0].update(id=""), "schedules[0].id"),
        (lambda d: d["schedules"][1].update(id=d["schedules"][0]["id"]), "schedules[1].id"),
        (lambda d: d["schedules"][0].update(status="sleeping"), "schedules[0].status"),
        (
            lambda d: d["schedules"][0]["config"].update(timezone="X/Y"),
            "schedules[0].config.timezone",
        ),
    ],
)
def test_invalid_documents_name_the_field(store: Store, mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    _seed(store)
    doc = copy.deepcopy(export_document(store))
    mutate(doc)
    before = dump(store)
    with pytest.raises(ValidationError) as exc:
        import_document(store, doc)
    assert exc.value.field == field
    assert dump(store) == before


def test_secrets_under_another_key_are_refused(store: Store) -> None:
    _seed(store)
    doc = export_document(store)
    other = Store(
        redis_client=store.redis,
        settings=store.settings.replace(secret_key=Fernet.generate_key().decode()),
    )
    with pytest.raises(ValidationError) as exc:
        import_document(other, doc)
    assert exc.value.field == "schedules[1].secrets"


def test_import_keeps_counters_of_existing_schedules(store: Store) -> None:
    ids = _seed(store)
    store.redis.hset(store.keys.schedule(ids[0]), "total_runs", 7)
    doc = export_document(store)
    doc["schedules"][0]["name"] = "renamed"
    import_document(store, doc)
    rec = store.schedules.get(doc["schedules"][0]["id"])
    assert rec.name == "renamed"
    assert store.schedules.get(ids[0]).counters["total_runs"] == 7


def test_import_refuses_existing_ids_without_replace(store: Store) -> None:
    _seed(store)
    with pytest.raises(ValidationError):
        import_document(store, export_document(store), replace=False)


def test_import_scoped_to_a_tenant_refuses_other_tenants(store: Store) -> None:
    _seed(store)
    doc = export_document(store)
    with pytest.raises(ValidationError) as exc:
        import_document(store, doc, tenant_id="acme")
    assert exc.value.field.endswith(".tenant_id")


def test_import_cannot_take_over_another_tenants_id(store: Store) -> None:
    ids = _seed(store)
    doc = export_document(store, "acme")
    doc["schedules"][0]["id"] = ids[2]  # a globex schedule's id
    with pytest.raises(ValidationError):
        import_document(store, doc)
    assert store.schedules.get(ids[2]).tenant_id == "globex"


def test_a_restore_keeps_expressions_and_their_cron_readings(store: Store) -> None:
    from tasksched.cron.compat import meaning_changes
    from tasksched.store.crons import stored_crons
    from tests.beat.schedules import store_the_old_way

    old = store_the_old_way(store, "59/15 * * * *")
    rec = store.schedules.create(spec(cron="*/15 * * * *"), now=NOW)
    elsewhere = "croniter 7.0.0|0123456789abcdef|1767226500"
    store.redis.hset(store.keys.schedule(rec.id), "cron_reading", elsewhere)
    doc = json.loads(json.dumps(export_document(store)))
    store.redis.flushall()
    import_document(store, doc)
    assert store.schedules.get(old).cron_expression == "59/15 * * * *"  # not refused
    assert store.redis.hget(store.keys.schedule(rec.id), "cron_reading") == elsewhere
    assert store.redis.hget(store.keys.schedule(old), "cron_reading") is None
    found = {f.schedule_id for f in meaning_changes(stored_crons(store))}
    assert found == {old, rec.id}  # the old form, and the recorded reading that differs
