"""SchedulerManager: the Python facade over the store.

Every method validates its input (raising :class:`~tasksched.errors.ValidationError` naming the
field), never leaves anything half-written, and returns JSON-ready dicts: enums as their string
values, times as ISO 8601 strings in UTC with the offset.

Methods that take ``tenant_id=`` as a scope (the REST API passes the caller's tenant) treat a
schedule of another tenant as not found. The seed's own shapes (``await start_scheduler()``,
``resource_monitor``, ``running``/``schedules``/``running_tasks``, ``reset_failures``,
``trigger_learning_cycle``) come from :mod:`tasksched.compat`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from tasksched.compat import AwaitableDict, ResourceMonitor, SeedFaces, warn_seed_keywords
from tasksched.cron import describe, get_timezone, next_fire_times
from tasksched.cron.compat import engine_name, refuse_ambiguous
from tasksched.errors import NotFoundError, ValidationError
from tasksched.models import AutonomousConfig, ScheduleSpec
from tasksched.runs import RunHandle, trigger
from tasksched.settings import Settings, get_settings
from tasksched.store import ScheduleRecord, Store
from tasksched.store.crons import scan_cron_meanings
from tasksched.store.status import read_scheduler_state, read_system_status
from tasksched.store.transfer import export_document, import_document


def _spec(
    tenant_id: Any,
    name: Any,
    cron_expression: Any,
    config: AutonomousConfig | Mapping[str, Any] | None,
    description: Any = "",
) -> ScheduleSpec:
    return ScheduleSpec(
        tenant_id=tenant_id,
        name=name,
        cron_expression=cron_expression,
        config=AutonomousConfig() if config is None else config,
        description=description,
    )


class SchedulerManager(SeedFaces):
    """Create and manage training schedules stored in Redis.

    ``SchedulerManager(redis_url="redis://localhost:6379/0")``: every method talks to what it
    was given. ``redis_url`` is the store and, unless ``broker_url`` names another, the broker
    too (as ``TASKSCHED_BROKER_URL`` empty means); without either, the settings' (default:
    the environment's ``TASKSCHED_*``). ``celery_app`` publishes triggered runs (your own app,
    configured with :func:`tasksched.celery.configure`, so its routes apply); default: the app
    for these settings. ``redis_retries`` bounds reconnect attempts (default about 30 s of
    them, for long-lived processes; a command or request handler passes fewer).
    The seed's ``autonomous_learner=`` and ``memory_service=`` are accepted and ignored with a
    :class:`~tasksched.compat.SeedCompatibilityWarning` naming what replaces them.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        settings: Settings | None = None,
        store: Store | None = None,
        redis_retries: int | None = None,
        broker_url: str | None = None,
        celery_app: Any = None,
        autonomous_learner: Any = None,
        memory_service: Any = None,
    ):
        warn_seed_keywords(
            {"autonomous_learner": autonomous_learner, "memory_service": memory_service}
        )
        if store is None:
            base = settings or get_settings()
            if redis_url is not None or broker_url is not None:
                # A URL given is used end to end: store, broker, queue depths.
                base = base.replace(
                    redis_url=redis_url or base.redis_url,
                    broker_url=broker_url
                    if broker_url is not None
                    else ("" if redis_url is not None else base.broker_url),
                )
            store = Store(settings=base, redis_retries=redis_retries)
        self.store = store
        self.celery_app = celery_app
        self.resource_monitor = ResourceMonitor(self.store)

    # ---- schedules ------------------------------------------------------------------------
    def create_training_schedule(
        self,
        tenant_id: str,
        name: str,
        cron_expression: str,
        config: AutonomousConfig | Mapping[str, Any] | None = None,
        description: str = "",
    ) -> str:
        """Create a schedule and return its id: active, or paused with ``config.enabled=False``
        (``enabled`` then follows :meth:`pause_schedule` and :meth:`resume_schedule`).

        ``cron_expression`` is the schedule's cron; the config's ``training_schedule``
        follows it. ``config`` is an :class:`AutonomousConfig` or a dict of its fields.
        """
        spec = _spec(tenant_id, name, cron_expression, config, description)
        return self.store.schedules.create(spec).id

    def create_training_schedules(self, items: Iterable[Mapping[str, Any]]) -> list[str]:
        """Create many schedules at once; all are validated before any is written.

        Each item is a dict with ``tenant_id``, ``name``, ``cron_expression`` and optional
        ``config`` and ``description``. Items sharing one config object are encoded once.
        """
        specs: list[ScheduleSpec] = []
        shared: dict[tuple[int, str], AutonomousConfig] = {}
        for i, item in enumerate(items):
            config = item.get("config")
            try:
                if isinstance(config, AutonomousConfig):
                    # Already validated: check the plain fields only, share config objects.
                    spec = ScheduleSpec.from_validated_config(
                        item.get("tenant_id"),
                        item.get("name"),
                        item.get("cron_expression"),
                        config,
                        item.get("description", ""),
                        shared,
                    )
                else:
                    spec = _spec(
                        item.get("tenant_id"),
                        item.get("name"),
                        item.get("cron_expression"),
                        config,
                        item.get("description", ""),
                    )
                specs.append(spec)
            except ValidationError as exc:
                raise ValidationError(f"items[{i}].{exc.field}", exc.message) from None
        return self.store.schedules.create_many(specs)

    def _get(self, schedule_id: str, tenant_id: str | None = None) -> ScheduleRecord:
        rec = self.store.schedules.get(schedule_id)
        if tenant_id is not None and rec.tenant_id != tenant_id:
            raise NotFoundError("schedule", schedule_id)
        return rec

    def list_schedules(self, tenant_id: str | None = None) -> list[dict[str, Any]]:
        """Summaries of a tenant's schedules (or all), sorted by tenant and name."""
        return [r.summary() for r in self.store.schedules.list(tenant_id)]

    def get_schedule_status(self, schedule_id: str, tenant_id: str | None = None) -> dict[str, Any]:
        """Status, counters, next run (UTC and local), last result and config (secrets masked)."""
        return self._get(schedule_id, tenant_id).status_dict()

    def update_schedule(
        self,
        schedule_id: str,
        expected_version: int | None = None,
        tenant_id: str | None = None,
        **changes: Any,
    ) -> dict[str, Any]:
        """Change name, description, cron_expression, timezone or config (partial dict).

        With ``expected_version`` a schedule changed since that version is refused
        (ConflictError). ``consecutive_failures=0`` resets the failure streak and its
        cooldown (as :meth:`reset_failures`). Returns the new status.
        """
        self._get(schedule_id, tenant_id)
        if "consecutive_failures" in changes:
            if changes.pop("consecutive_failures") != 0:
                raise ValidationError("consecutive_failures", "can only be reset to 0")
            if changes or expected_version is not None:
                self.store.schedules.update(schedule_id, changes, expected_version)
            return self.reset_failures(schedule_id, tenant_id, by="update_schedule")
        return self.store.schedules.update(schedule_id, changes, expected_version).status_dict()

    def pause_schedule(self, schedule_id: str, tenant_id: str | None = None) -> dict[str, Any]:
        """Pause a schedule: it leaves the due index; dispatched runs are skipped."""
        self._get(schedule_id, tenant_id)
        return self.store.schedules.pause(schedule_id).status_dict()

    def resume_schedule(self, schedule_id: str, tenant_id: str | None = None) -> dict[str, Any]:
        """Resume a paused schedule from its next fire time after now."""
        self._get(schedule_id, tenant_id)
        return self.store.schedules.resume(schedule_id).status_dict()

    def delete_schedule(self, schedule_id: str, tenant_id: str | None = None) -> None:
        """Delete a schedule with its index entries and run history."""
        self._get(schedule_id, tenant_id)
        self.store.schedules.delete(schedule_id)

    # ---- runs -----------------------------------------------------------------------------
    def trigger_training(self, tenant_id: str, schedule_id: str, force: bool = False) -> RunHandle:
        """Enqueue a run of the schedule now; returns a handle (``run_id``, ``wait``, ``record``).

        ``force`` bypasses the cooldown, the failure counter and the data minimum, never the
        run lock or the memory limit. Another tenant's schedule is not found.
        """
        return trigger(self.store, tenant_id, schedule_id, force=force, app=self.celery_app)

    def get_runs(
        self,
        schedule_id: str,
        offset: int = 0,
        limit: int = 50,
        tenant_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """A page of the schedule's run history, newest first."""
        if offset < 0:
            raise ValidationError("offset", "must be >= 0")
        if not 1 <= limit <= 1000:
            raise ValidationError("limit", "must be between 1 and 1000")
        self._get(schedule_id, tenant_id)
        return self.store.runs.list(schedule_id, offset, limit)

    def get_run(self, run_id: str, tenant_id: str | None = None) -> dict[str, Any]:
        """One run record."""
        run = self.store.runs.get(run_id)
        if tenant_id is not None and run.get("tenant_id") != tenant_id:
            raise NotFoundError("run", run_id)
        return run

    # ---- the global switch ----------------------------------------------------------------
    def start_scheduler(self) -> AwaitableDict:
        """Resume dispatching on every beat process; the new state (a dict, also awaitable)."""
        self.store.control.set_enabled(True)
        return AwaitableDict(self.scheduler_state())

    def stop_scheduler(self) -> AwaitableDict:
        """Stop all dispatching (beat processes keep running and wait); awaitable like start."""
        self.store.control.set_enabled(False)
        return AwaitableDict(self.scheduler_state())

    def ping(self, nodes: Iterable[str], timeout_s: float = 5.0) -> dict[str, bool]:
        """Celery's own liveness probe: which of ``nodes`` answer ``ping`` within ``timeout_s``.

        Workers (``name@host``) and beat processes (``celerybeat@host``, which stay silent once
        their loop has not ticked for ``TASKSCHED_BEAT_MAX_TICK_AGE_S``), through the broker
        this manager publishes to.
        """
        from tasksched.celery import app_for

        wanted = list(nodes)
        if not wanted:
            return {}
        app = self.celery_app or app_for(self.store.settings)
        replies = app.control.ping(destination=wanted, timeout=timeout_s) or []
        answered = {node for reply in replies for node in reply}
        return {node: node in answered for node in wanted}

    def scheduler_state(self) -> dict[str, Any]:
        """The switch and beat's health (leader, last tick, lag)."""
        return read_scheduler_state(self.store)

    def cron_doctor(self) -> dict[str, Any]:
        """Stored expressions the cron engine now reads differently, with both readings.

        ``findings`` lists each schedule whose fire times differ from the reading recorded
        when it was written or, for one written before readings were recorded, that uses a
        form whose meaning changed (croniter 6 -> 7: ``59/15``, ``6/1``), or that the engine
        now refuses. Read-only.
        """
        scan = scan_cron_meanings(self.store)
        return {
            "engine": engine_name(),
            "schedules": scan.schedules,
            "without_reading": scan.without_reading,
            "findings": [f.as_dict() for f in scan.findings],
        }

    def system_status(self, worker_stale_s: float = 30.0) -> dict[str, Any]:
        """Everything an operator checks first, read from Redis now (any process sees the same).

        The switch, beat's leader and lag, workers (online when their heartbeat is younger
        than ``worker_stale_s``), schedules by status, broker queue depths (None when the
        broker is not a Redis this process can read) and runs finished by outcome (global
        counters kept by the workers: O(1) to read, and they never go down).
        """
        return read_system_status(self.store, worker_stale_s)

    # ---- backup ---------------------------------------------------------------------------
    def export_schedules(self, tenant_id: str | None = None) -> dict[str, Any]:
        """A versioned JSON document of all schedules (or one tenant's); secrets encrypted."""
        return export_document(self.store, tenant_id)

    def import_schedules(
        self, document: Any, replace: bool = True, tenant_id: str | None = None
    ) -> list[str]:
        """Validate a document from :meth:`export_schedules`, then write all of it or nothing."""
        return import_document(self.store, document, replace=replace, tenant_id=tenant_id)

    def rotate_secrets(self) -> int:
        """Re-encrypt every stored secret under ``TASKSCHED_SECRET_KEY``, all or nothing.

        The old key must be in ``TASKSCHED_SECRET_KEY_PREVIOUS``. Returns how many schedules'
        secrets were re-encrypted.
        """
        from tasksched.store.secrets import rotate

        return rotate(self.store)

    # ---- cron -----------------------------------------------------------------------------
    @staticmethod
    def preview_cron(
        cron_expression: str, timezone: str = "UTC", count: int = 5, after: datetime | None = None
    ) -> dict[str, Any]:
        """Describe an expression and list its next fire times (local and UTC)."""
        refuse_ambiguous(cron_expression)
        tz = get_timezone(timezone)
        start = after or datetime.now(UTC)
        times = next_fire_times(cron_expression, timezone, start, count)
        return {
            "cron_expression": cron_expression,
            "timezone": timezone,
            "description": describe(cron_expression),
            "next_fire_times": [t.astimezone(tz).isoformat() for t in times],
            "next_fire_times_utc": [t.astimezone(UTC).isoformat() for t in times],
        }

    # ---- notifications --------------------------------------------------------------------
    def get_notifications(
        self, tenant_id: str, limit: int = 50, offset: int = 0
    ) -> list[dict[str, Any]]:
        """A page of the tenant's notification feed (the ``memory`` channel), newest first.

        Each entry: event, title, message, importance (0-10), correlation id (the run id),
        schedule id and name, outcome, reason, error, scores, timings, time.
        """
        from tasksched.models import validate_tenant_id
        from tasksched.store.notifications import NotificationStore

        try:
            validate_tenant_id(tenant_id)
        except ValueError as exc:
            raise ValidationError("tenant_id", str(exc)) from None
        return NotificationStore(self.store).feed(tenant_id, limit=limit, offset=offset)

    def send_test_notification(
        self,
        schedule_id: str | None = None,
        config: Any = None,
        tenant_id: str | None = None,
        timeout_s: float = 30.0,
        inline: bool = False,
    ) -> dict[str, Any]:
        """Send a ``test`` event through a schedule's channels, or an ad-hoc ``config``.

        ``config`` is a :class:`NotificationConfig` or a dict of its fields; it is kept
        encrypted in Redis for the send only. Each channel is tried once on a notifications
        worker (or in this process with ``inline=True``), waiting up to ``timeout_s``. Returns
        ``{"event_id", "correlation_id", "complete", "channels": {channel: {"status", "detail"
        or "error", ...}}}`` with status ``sent``, ``failed``, ``skipped`` or ``pending``.
        """
        from tasksched.models import NotificationConfig, validate_tenant_id
        from tasksched.tasks.notify import send_test

        if not 0 <= timeout_s <= 600:
            raise ValidationError("timeout_s", "must be between 0 and 600")
        if (schedule_id is None) == (config is None):
            raise ValidationError("schedule_id", "give either schedule_id or config")
        if schedule_id is not None:
            record = self._get(schedule_id, tenant_id)
            return send_test(self.store, schedule=record, timeout_s=timeout_s, inline=inline)
        if tenant_id is not None:
            try:
                validate_tenant_id(tenant_id)
            except ValueError as exc:
                raise ValidationError("tenant_id", str(exc)) from None
        try:
            cfg = NotificationConfig.model_validate(config)
        except ValidationError as exc:
            raise exc.prefixed("config") from None
        if tenant_id is not None and cfg.memory_tenant_id not in (None, tenant_id):
            raise ValidationError("config.memory_tenant_id", "must be the caller's tenant")
        return send_test(
            self.store, config=cfg, tenant_id=tenant_id, timeout_s=timeout_s, inline=inline
        )

    def dead_letters(
        self, limit: int = 50, offset: int = 0, tenant_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Notifications given up after their last retry, newest first (with the last error).

        With ``tenant_id`` only that tenant's are listed.
        """
        from tasksched.store.notifications import NotificationStore

        notes = NotificationStore(self.store)
        if tenant_id is None:
            return notes.dead_letters(limit=limit, offset=offset)
        notes.dead_letters(limit=limit, offset=offset)  # validates the page
        everything = notes.dead_letters(limit=1000, offset=0)
        mine = [d for d in everything if d.get("tenant_id") == tenant_id]
        return mine[offset : offset + limit]
