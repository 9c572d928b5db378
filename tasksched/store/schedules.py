"""Schedules in Redis: create, read, list, update (compare-and-set), pause, resume, delete.

A schedule is one hash (``Keys.schedule``). Beat's timing fields (``cron``, ``tz``,
``jitter_s``, ``misfire``) are kept as plain fields so a tick reads them without parsing the
config; the rest of the config is JSON without those fields and without secrets, which are
encrypted apart (``secrets``). Defaults are left out of the stored JSON.
"""

from __future__ import annotations

import builtins
import json
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tasksched.cron import dst_policy, jitter_offset_s, next_fire_epoch
from tasksched.cron.compat import read as read_cron
from tasksched.errors import ConflictError, NotFoundError, ValidationError
from tasksched.models import (
    SCHEDULE_ID_RE,
    AutonomousConfig,
    ScheduleSpec,
    ScheduleStatus,
    utc_iso,
)
from tasksched.plugins import check_registered
from tasksched.store.records import (
    DEFAULT_FIELDS,
    ScheduleRecord,
    encode_config,
    new_schedule_id,
)
from tasksched.store.schedule_changes import check_caps, merge_config, status_change

if TYPE_CHECKING:
    from tasksched.store import Store

# A deletion is remembered this long (ms) to answer a retried delete: longer than the client's
# reconnect retries (about 30 s).
SCHEDULE_TOMB_TTL_MS = 60_000
HISTORY_MAX = 100  # operator actions kept per schedule


class ScheduleStore:
    """CRUD for schedules; every write keeps the tenant set and the due index in step."""

    def __init__(self, store: Store):
        self._s = store
        self._r = store.redis
        self._k = store.keys

    # ---- encoding -------------------------------------------------------------------------
    def encode(
        self, spec: ScheduleSpec, config_json: str | None = None
    ) -> tuple[dict[str, str], dict[str, Any]]:
        """Hash fields for the spec's definition (no status/version/times) and its secrets."""
        cfg = spec.config
        if config_json is None:
            config_json = encode_config(cfg)
        mapping = {
            "tenant_id": spec.tenant_id,
            "name": spec.name,
            "description": spec.description,
            "cron": spec.cron_expression,
            "tz": cfg.timezone,
            "jitter_s": repr(cfg.jitter_s) if cfg.jitter_s else "",
            "dst": dst_policy(cfg.duplicate_dst, cfg.missing_dst),
            # An empty grace is the deployment's default (TASKSCHED_BEAT_DEFAULT_GRACE_S).
            "misfire": f"{cfg.misfire_policy.value}:"
            + ("" if cfg.misfire_grace_s is None else repr(cfg.misfire_grace_s)),
            "config": config_json,
            # What the cron engine made of the expression when it was written: a later engine
            # reading it differently is found by ``tasksched doctor`` (cron.compat).
            "cron_reading": read_cron(spec.cron_expression).to_text(),
        }
        return mapping, cfg.notifications.secrets()

    def secret_fields(self, secrets: dict[str, Any]) -> dict[str, str]:
        """The hash fields holding ``secrets``: encrypted, and the names shown instead."""
        if not secrets:
            return {"secrets": "", "secret_names": ""}
        names: dict[str, Any] = {k: True for k in secrets if k != "webhook_headers"}
        if "webhook_headers" in secrets:
            names["webhook_headers"] = sorted(secrets["webhook_headers"])
        return {"secrets": self._s.box.encrypt(secrets), "secret_names": json.dumps(names)}

    def check_caps(self, cfg: AutonomousConfig, where: str = "config") -> None:
        """Refuse what this deployment does not allow, though the schema does (see
        :func:`~tasksched.store.schedule_changes.check_caps`)."""
        check_caps(self._s.settings, cfg, where)

    def next_fire(self, schedule: ScheduleSpec | ScheduleRecord, sid: str, now: float) -> float:
        """The first fire time after ``now`` for a schedule (jitter applied)."""
        cfg = schedule.config
        offset = jitter_offset_s(sid, cfg.jitter_s)
        dst = dst_policy(cfg.duplicate_dst, cfg.missing_dst)
        return next_fire_epoch(schedule.cron_expression, cfg.timezone, now, offset, dst)

    # ---- create ---------------------------------------------------------------------------
    def create(
        self,
        spec: ScheduleSpec,
        now: float | None = None,
        schedule_id: str | None = None,
        status: ScheduleStatus = ScheduleStatus.ACTIVE,
    ) -> ScheduleRecord:
        """Store a validated spec as a new schedule (atomically) and return it."""
        ids = [schedule_id] if schedule_id else None
        ids = self.create_many([spec], now=now, status=status, ids=ids)
        return self.get(ids[0])

    def create_many(
        self,
        specs: Iterable[ScheduleSpec],
        now: float | None = None,
        status: ScheduleStatus = ScheduleStatus.ACTIVE,
        ids: builtins.list[str] | None = None,
        chunk: int = 2000,
    ) -> builtins.list[str]:
        """Store many validated specs; each schedule is written whole (MULTI/EXEC per chunk).

        Work shared by specs with the same config object (encoding) or the same cron and
        timezone (next fire time) is done once.
        """
        now = self._s.time() if now is None else now  # Redis's clock, as beat's
        spec_list = list(specs)
        if ids is not None and len(ids) != len(spec_list):
            raise ValidationError("ids", "must have one id per schedule")
        # Everything is checked before the first chunk is written.
        for sid in ids or ():
            if not SCHEDULE_ID_RE.match(sid):
                raise ValidationError("schedule_id", f"invalid schedule id {sid!r}")
        for cfg in {id(spec.config): spec.config for spec in spec_list}.values():
            self.check_caps(cfg)
            check_registered(cfg.learner, self._s.settings.learners, "config.learner")
        out: builtins.list[str] = []
        encoded_cache: dict[int, tuple[AutonomousConfig, str, dict[str, str]]] = {}
        nowf = repr(float(now))
        active = status is ScheduleStatus.ACTIVE
        k = self._k
        for start in range(0, len(spec_list), chunk):
            # One transaction per chunk; per chunk one ZADD and one SADD per tenant, so the
            # round trip carries about one command per schedule.
            pipe = self._r.pipeline(transaction=True)
            due: dict[str, float] = {}
            by_tenant: dict[str, builtins.list[str]] = {}
            for i in range(start, min(start + chunk, len(spec_list))):
                spec = spec_list[i]
                sid = ids[i] if ids is not None else new_schedule_id()
                cfg = spec.config
                cached = encoded_cache.get(id(cfg))
                if cached is None or cached[0] is not cfg:
                    secrets = self.secret_fields(cfg.notifications.secrets())
                    cached = (cfg, encode_config(cfg), secrets)
                    encoded_cache[id(cfg)] = cached
                mapping, _ = self.encode(spec, cached[1])
                mapping.update(cached[2])
                on = active and cfg.enabled  # config.enabled=False: created paused
                mapping.update(id=sid, status=status.value if on else "paused", version="1",
                               created_at=nowf)  # fmt: skip
                if on:
                    nxt = self.next_fire(spec, sid, now)
                    mapping["next_run"] = repr(nxt)
                    due[sid] = nxt
                # Empty and default fields are left out (read back as their defaults).
                fields = {f: v for f, v in mapping.items() if v and DEFAULT_FIELDS.get(f) != v}
                pipe.hset(k.schedule(sid), mapping=fields)
                by_tenant.setdefault(spec.tenant_id, []).append(sid)
                out.append(sid)
            if due:
                pipe.zadd(k.due, due)
            for tenant, tenant_ids in by_tenant.items():
                pipe.sadd(k.tenant(tenant), *tenant_ids)
            pipe.sadd(k.tenants, *by_tenant)
            pipe.execute()
        return out

    # ---- read -----------------------------------------------------------------------------
    def get(self, schedule_id: str) -> ScheduleRecord:
        """The schedule ``schedule_id``; raises NotFoundError."""
        h = self._r.hgetall(self._k.schedule(schedule_id)) if schedule_id else {}
        if not h or "cron" not in h:
            raise NotFoundError("schedule", schedule_id)
        return ScheduleRecord.from_hash(h)

    def exists(self, schedule_id: str) -> bool:
        """True when the schedule exists."""
        return bool(self._r.exists(self._k.schedule(schedule_id)))

    def get_many(self, schedule_ids: builtins.list[str]) -> builtins.list[ScheduleRecord]:
        """The schedules that exist among ``schedule_ids`` (one round trip)."""
        pipe = self._r.pipeline(transaction=False)
        for sid in schedule_ids:
            pipe.hgetall(self._k.schedule(sid))
        return [ScheduleRecord.from_hash(h) for h in pipe.execute() if h and "cron" in h]

    def list(self, tenant_id: str | None = None) -> builtins.list[ScheduleRecord]:
        """A tenant's schedules, or every schedule, sorted by (tenant, name, id)."""
        if tenant_id is not None:
            ids = list(self._r.smembers(self._k.tenant(tenant_id)))
        else:
            ids = []
            for t in self.tenants():
                ids.extend(self._r.smembers(self._k.tenant(t)))
        records = self.get_many(ids)
        records.sort(key=lambda r: (r.tenant_id, r.name, r.id))
        return records

    def tenants(self) -> builtins.list[str]:
        """Every tenant id that has schedules, sorted."""
        return sorted(self._r.smembers(self._k.tenants))

    def count_by_status(self) -> dict[str, int]:
        """Schedules by status: active ones are the due index's size."""
        active = int(self._r.zcard(self._k.due))
        pipe = self._r.pipeline(transaction=False)
        tenants = self.tenants()
        for t in tenants:
            pipe.scard(self._k.tenant(t))
        total = sum(int(n) for n in pipe.execute())
        return {"active": active, "paused": max(total - active, 0), "total": total}

    def config_with_secrets(self, record: ScheduleRecord) -> AutonomousConfig:
        """The config with its secrets decrypted (at send time, never for display)."""
        if not record.secrets_token:
            return record.config
        secrets = self._s.box.decrypt(record.secrets_token)
        raw = json.loads(json.dumps(record.raw_config))
        raw.setdefault("notifications", {}).update(secrets)
        return AutonomousConfig.model_validate(raw)

    # ---- update ---------------------------------------------------------------------------
    def update(
        self,
        schedule_id: str,
        changes: Mapping[str, Any],
        expected_version: int | None = None,
        now: float | None = None,
    ) -> ScheduleRecord:
        """Apply ``changes`` (name, description, cron_expression, timezone, config) atomically.

        ``config`` may be a partial dict (merged into the stored config, nested dicts too) or a
        whole :class:`AutonomousConfig`. With ``expected_version`` a schedule changed since
        that version is refused with ConflictError; without it, the version read here is the
        one checked, so a concurrent change is never silently overwritten.
        """
        now = self._s.time() if now is None else now  # Redis's clock, as beat's
        allowed = {"name", "description", "cron_expression", "timezone", "config", "tenant_id"}
        unknown = set(changes) - allowed
        if unknown:
            name = sorted(unknown)[0]
            raise ValidationError(name, f"unknown field; updatable: {', '.join(sorted(allowed))}")
        current = self.get(schedule_id)
        if "tenant_id" in changes and changes["tenant_id"] != current.tenant_id:
            raise ValidationError("tenant_id", "a schedule cannot move to another tenant")
        if expected_version is not None and expected_version != current.version:
            raise ConflictError(schedule_id, expected_version, current.version)
        secrets_before = self._s.box.decrypt(current.secrets_token) if current.secrets_token else {}
        cron, raw_cfg, secrets_after = merge_config(
            current.raw_config, current.cron_expression, changes, secrets_before
        )
        try:
            spec = ScheduleSpec.model_validate(
                {
                    "tenant_id": current.tenant_id,
                    "name": changes.get("name", current.name),
                    "description": changes.get("description", current.description),
                    "cron_expression": cron,
                    "config": raw_cfg,
                },
                # An unchanged expression stored before issue 13's refusal stays accepted.
                context={"stored_cron": current.cron_expression},
            )
        except ValidationError as err:
            tz_given = "timezone" in changes and "timezone" not in (changes.get("config") or {})
            if err.field == "config.timezone" and tz_given:
                raise ValidationError("timezone", err.message) from None  # as the caller named it
            raise err from None
        self.check_caps(spec.config)
        check_registered(spec.config.learner, self._s.settings.learners, "config.learner")
        mapping, _ = self.encode(spec)
        if mapping["cron"] == current.cron_expression:
            # The expression is unchanged: its reading stays the one recorded when it was
            # written (or absent, for a schedule written before readings were recorded).
            del mapping["cron_reading"]
        if secrets_after != secrets_before:
            mapping.update(self.secret_fields(spec.config.notifications.secrets()))
        mapping["updated_at"] = repr(float(now))
        cur_cfg = current.config
        timing_changed = (
            mapping["cron"] != current.cron_expression
            or mapping["tz"] != current.timezone
            or mapping["dst"] != dst_policy(cur_cfg.duplicate_dst, cur_cfg.missing_dst)
            or float(mapping["jitter_s"] or 0) != current.config.jitter_s
        )
        due_action, nxt = "keep", ""
        status = status_change(changes, spec.config, current.status)  # config.enabled
        if status == ScheduleStatus.PAUSED.value:
            due_action = "remove"
        elif status or (timing_changed and current.status is ScheduleStatus.ACTIVE):
            due_action, nxt = "set", repr(self.next_fire(spec, schedule_id, now))
        self._write(schedule_id, current.version, mapping, due_action, nxt, status, now)
        return self.get(schedule_id)

    def _write(
        self,
        schedule_id: str,
        version: int | None,
        mapping: Mapping[str, str],
        due_action: str,
        next_run: str,
        status: str,
        now: float,
        delete: Iterable[str] = (),
    ) -> int:
        args: list[Any] = [
            "" if version is None else version,
            schedule_id,
            due_action,
            next_run,
            status,
            os.urandom(8).hex(),
            repr(float(now)),
            self._k.run(""),
            self._k.tomb(""),
            self._s.settings.tombstone_ttl_s * 1000,
        ]
        for f, v in mapping.items():
            args.extend((f, v))
        dels = list(delete)
        if dels:
            args.append("--del--")
            args.extend(dels)
        res = self._s.scripts.run(
            "update_schedule",
            [self._k.schedule(schedule_id), self._k.due, self._k.runs(schedule_id),
             self._k.pending],
            args,
        )
        if res[0] == -2:
            raise NotFoundError("schedule", schedule_id)
        if res[0] == -1:
            raise ConflictError(schedule_id, version or 0, int(res[1]))
        return int(res[0])

    def pause(self, schedule_id: str, now: float | None = None) -> ScheduleRecord:
        """Pause: out of the due index; a run already dispatched is skipped by the worker."""
        now = self._s.time() if now is None else now  # Redis's clock, as beat's
        self._write(schedule_id, None, {"updated_at": repr(now)}, "remove", "", "paused", now)
        return self.get(schedule_id)

    def resume(self, schedule_id: str, now: float | None = None) -> ScheduleRecord:
        """Resume: back in the due index at the next fire time after ``now``."""
        now = self._s.time() if now is None else now  # Redis's clock, as beat's
        current = self.get(schedule_id)
        nxt = repr(self.next_fire(current, schedule_id, now))
        self._write(schedule_id, current.version, {"updated_at": repr(now)}, "set", nxt, "active",
                    now)  # fmt: skip
        return self.get(schedule_id)

    def reset_failures(
        self, schedule_id: str, by: str = "", now: float | None = None
    ) -> dict[str, Any]:
        """Set the failure streak to 0 and end the cooldown, atomically, and record it.

        The history entry (:meth:`history`) keeps the previous streak and cooldown end.
        Returns that entry.
        """
        now = self._s.time() if now is None else now  # Redis's clock, as beat's
        res = self._s.scripts.run(
            "reset_failures",
            [self._k.schedule(schedule_id), self._k.history(schedule_id)],
            [repr(float(now)), by, HISTORY_MAX, os.urandom(8).hex()],  # a retry: same id
        )
        if int(res[0]) == -2:
            raise NotFoundError("schedule", schedule_id)
        return self.history(schedule_id, limit=1)[0]

    def history(self, schedule_id: str, limit: int = 50) -> builtins.list[dict[str, Any]]:
        """The schedule's operator actions, newest first (each with ``event`` and ``at``)."""
        rows = self._r.lrange(self._k.history(schedule_id), 0, max(limit, 1) - 1)
        out = []
        for row in rows:
            entry = json.loads(row)
            entry["at_iso"] = utc_iso(entry.get("at"))
            out.append(entry)
        return out

    def delete(self, schedule_id: str) -> None:
        """Delete a schedule and everything it left: index entries, run lock, run records with
        their outbox, running and pending entries (``scripts/delete_schedule.lua``; run
        tombstones stay, so a redelivered message is still refused). Raises NotFoundError."""
        k = self._k
        done = self._s.scripts.run(
            "delete_schedule",
            [
                k.schedule(schedule_id),
                k.runs(schedule_id),
                k.run_lock(schedule_id),
                k.due,
                k.outbox,
                k.running,
                k.pending,
                k.schedule_tomb(schedule_id),
                k.history(schedule_id),
            ],
            [schedule_id, k.run(""), k.tenant(""), os.urandom(8).hex(), SCHEDULE_TOMB_TTL_MS],
        )
        if not int(done):
            raise NotFoundError("schedule", schedule_id)
