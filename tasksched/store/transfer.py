"""Export schedules to a versioned JSON document and import them back (all or nothing)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tasksched.errors import SecretDecryptError, SecretKeyMissingError, ValidationError
from tasksched.models import SCHEDULE_ID_RE, ScheduleSpec, ScheduleStatus, utc_iso
from tasksched.plugins import check_registered

if TYPE_CHECKING:
    from tasksched.store import Store

EXPORT_FORMAT = "tasksched.export"
EXPORT_VERSION = 1


def export_document(store: Store, tenant_id: str | None = None) -> dict[str, Any]:
    """All schedules (or one tenant's) as a JSON-ready document.

    Secrets stay encrypted (``secrets``): a restore under the same key keeps them, and
    nothing in the document is a secret in clear text. Counters and history are not exported.
    """
    out = []
    for rec in store.schedules.list(tenant_id):
        out.append(
            {
                "id": rec.id,
                "tenant_id": rec.tenant_id,
                "name": rec.name,
                "description": rec.description,
                "cron_expression": rec.cron_expression,
                # What the cron engine read when it was written: a restore keeps it, so
                # `tasksched doctor` still sees what an engine change did to it.
                "cron_reading": rec.cron_reading,
                "status": rec.status.value,
                "config": rec.raw_config,
                "secrets": rec.secrets_token,
            }
        )
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": utc_iso(time.time()),
        "tenant_id": tenant_id,
        "schedules": out,
    }


def import_document(
    store: Store, document: Any, replace: bool = True, tenant_id: str | None = None
) -> list[str]:
    """Validate every schedule of ``document`` first, then write them all in one transaction.

    An id that exists is replaced when ``replace`` (a restore), else refused. With
    ``tenant_id`` every schedule must belong to it. Returns the ids written.
    """
    if not isinstance(document, dict):
        raise ValidationError("document", "must be a JSON object")
    if document.get("format") != EXPORT_FORMAT:
        raise ValidationError("format", f"must be {EXPORT_FORMAT!r}")
    if document.get("version") != EXPORT_VERSION:
        raise ValidationError("version", f"unsupported version; expected {EXPORT_VERSION}")
    items = document.get("schedules")
    if not isinstance(items, list):
        raise ValidationError("schedules", "must be a list")
    prepared: list[tuple[str, ScheduleSpec, ScheduleStatus, str | None]] = []
    seen: set[str] = set()
    readings: dict[str, str | None] = {}
    for i, item in enumerate(items):
        where = f"schedules[{i}]"
        if not isinstance(item, dict):
            raise ValidationError(where, "must be an object")
        sid = item.get("id")
        if not isinstance(sid, str) or not SCHEDULE_ID_RE.match(sid):
            # The same rule as create: an id is part of Redis keys and of model directories.
            raise ValidationError(
                f"{where}.id", "must be 1-64 characters: letters, digits, '_' or '-'"
            )
        if sid in seen:
            raise ValidationError(f"{where}.id", f"duplicate id {sid!r}")
        seen.add(sid)
        secrets_token = item.get("secrets")
        raw_config = item.get("config") or {}
        if not isinstance(raw_config, dict):
            raise ValidationError(f"{where}.config", "must be an object")
        config = dict(raw_config)
        if secrets_token and not isinstance(secrets_token, str):
            raise ValidationError(f"{where}.secrets", "must be a string (an encrypted token)")
        if secrets_token and not isinstance(config.get("notifications") or {}, dict):
            raise ValidationError(f"{where}.config.notifications", "must be an object")
        if secrets_token:
            try:
                secrets = store.box.decrypt(secrets_token)
            except (SecretDecryptError, SecretKeyMissingError) as exc:
                raise ValidationError(f"{where}.secrets", str(exc)) from None
            notif = dict(config.get("notifications") or {})
            notif.update(secrets)
            config["notifications"] = notif
        try:
            spec = ScheduleSpec.model_validate(
                {
                    "tenant_id": item.get("tenant_id"),
                    "name": item.get("name"),
                    "cron_expression": item.get("cron_expression"),
                    "config": config,
                    "description": item.get("description", ""),
                },
                # A restore keeps each expression as it was stored, even in a form that
                # create and update now refuse (`59/15`); doctor lists those.
                context={"stored_cron": item.get("cron_expression")},
            )
            status = ScheduleStatus(item.get("status", "active"))
        except ValidationError as exc:
            raise exc.prefixed(where) from None
        except ValueError:
            raise ValidationError(f"{where}.status", "must be 'active' or 'paused'") from None
        if tenant_id is not None and spec.tenant_id != tenant_id:
            raise ValidationError(f"{where}.tenant_id", "belongs to another tenant")
        prepared.append((sid, spec, status, secrets_token))
        reading = item.get("cron_reading")
        readings[sid] = reading if isinstance(reading, str) and reading else None
    existing = [sid for sid, *_ in prepared if store.schedules.exists(sid)]
    if existing and not replace:
        raise ValidationError("schedules", f"ids already exist: {', '.join(existing[:5])}")
    if existing:
        # Ids that belong to another tenant must not be taken over by an import.
        for rec in store.schedules.get_many(existing):
            spec = next(p[1] for p in prepared if p[0] == rec.id)
            if rec.tenant_id != spec.tenant_id:
                raise ValidationError("schedules", f"id {rec.id!r} belongs to another tenant")
    return write_imported(store, prepared, readings=readings)


def write_imported(
    store: Store,
    prepared: list[tuple[str, ScheduleSpec, ScheduleStatus, str | None]],
    readings: Mapping[str, str | None] | None = None,
) -> list[str]:
    """Write validated (id, spec, status, encrypted secrets) in one MULTI/EXEC.

    Existing ids keep their counters and history; their definition is replaced. With
    ``readings`` (id -> the cron reading exported, None for none recorded) a schedule keeps
    the reading it had instead of the running engine's.
    """
    now = store.time()  # Redis's clock, as beat's
    k = store.keys
    ttl_ms = store.settings.tombstone_ttl_s * 1000
    pipe = store.redis.pipeline(transaction=True)
    for i, (_, spec, _, _) in enumerate(prepared):
        store.schedules.check_caps(spec.config, f"schedules[{i}].config")
        where = f"schedules[{i}].config.learner"
        check_registered(spec.config.learner, store.settings.learners, where)
    for sid, spec, status, _token in prepared:
        key = k.schedule(sid)
        if not spec.config.enabled:
            status = ScheduleStatus.PAUSED  # enabled is the status
        mapping, secrets = store.schedules.encode(spec)
        # Secrets were decrypted to validate; stored again under the current key.
        mapping.update(store.schedules.secret_fields(secrets))
        mapping.update({"id": sid, "status": status.value, "updated_at": repr(now)})
        if readings is not None and sid in readings:
            restored = readings[sid]
            if restored is None:
                del mapping["cron_reading"]
                pipe.hdel(key, "cron_reading")
            else:
                mapping["cron_reading"] = restored
        pipe.hset(key, mapping=mapping)
        pipe.hsetnx(key, "created_at", repr(now))
        pipe.hincrby(key, "version", 1)
        active = status is ScheduleStatus.ACTIVE
        nxt = store.schedules.next_fire(spec, sid, now) if active else None
        if nxt is not None:
            pipe.hset(key, "next_run", repr(nxt))
            pipe.zadd(k.due, {sid: nxt})
        else:
            pipe.hdel(key, "next_run")
            pipe.zrem(k.due, sid)
        # A run beat claimed ahead of its second goes unless the restored timing keeps it.
        store.scripts.run(
            "import_settle",
            [key, k.runs(sid), k.pending],
            [repr(now), k.run(""), k.tomb(""), ttl_ms, "" if nxt is None else repr(nxt)],
            client=pipe,
        )
        pipe.sadd(k.tenant(spec.tenant_id), sid)
        pipe.sadd(k.tenants, spec.tenant_id)
    pipe.execute()
    return [p[0] for p in prepared]
