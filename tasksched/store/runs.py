"""Run records: one hash per run, indexed per schedule by time and capped.

A cron run's id is derived from ``(schedule id, cron fire time)`` (:func:`cron_run_id`), so a
fire dispatched twice is still one run. Writes take an optional pipeline.
"""

from __future__ import annotations

import builtins
import json
import os
import time
from typing import TYPE_CHECKING, Any

from tasksched.errors import NotFoundError
from tasksched.models import RunStatus, RunTrigger, utc_iso

if TYPE_CHECKING:
    from tasksched.store import Store

# Every field is stored as a string; these come back typed, the same in Python, REST and
# `--json` (tests/store/test_runs.py checks a real record has no numeric or flag string left).
_JSON_FIELDS = ("metrics", "checks", "clamped")
_TIME_FIELDS = ("fire_time", "queued_at", "started_at", "finished_at", "next_attempt_at")
_FLOAT_FIELDS = (
    *_TIME_FIELDS,
    "duration_s",
    "training_s",
    "quality_score",
    "validation_score",
    "baseline_score",
    "prerun_ms",
    "peak_memory_mb",
    "memory_budget_mb",
)
_INT_FIELDS = ("attempts", "deferrals", "data_count", "max_samples")
_BOOL_FIELDS = ("forced", "rolled_back", "degraded", "cooldown_entered")
# Fields not listed above are typed by their names' units: times (``*_at``), seconds,
# milliseconds, megabytes and scores are numbers, so a field added later comes back typed too.
_TIME_SUFFIX = "_at"
_NUMBER_SUFFIXES = ("_s", "_ms", "_mb", "_score", "_percent")


def cron_run_id(schedule_id: str, cron_time: float) -> str:
    """The deterministic id of the run of ``schedule_id`` at cron time ``cron_time``."""
    return f"{schedule_id}-{round(cron_time)}"


def manual_run_id(schedule_id: str) -> str:
    """A fresh id for an ad-hoc (forced or manual) run."""
    return f"{schedule_id}-m{os.urandom(6).hex()}"


def decode_run(h: dict[str, str]) -> dict[str, Any]:
    """A stored run hash as a JSON-ready dict: numbers, booleans, times as epoch seconds and as
    ISO 8601 UTC strings (``<field>_iso``)."""
    out: dict[str, Any] = dict(h)
    for f in _FLOAT_FIELDS:
        if h.get(f):
            out[f] = float(h[f])
    for f in _INT_FIELDS:
        if h.get(f):
            out[f] = int(h[f])
    for f in _JSON_FIELDS:
        if h.get(f):
            out[f] = json.loads(h[f])
    for f in _BOOL_FIELDS:
        if f in h:
            out[f] = h[f] in ("1", "true", "True")
    times = [f for f in _TIME_FIELDS if f in out]
    for f, v in h.items():
        if f in out and not isinstance(out[f], str):
            continue
        if f.endswith(_TIME_SUFFIX) or f.endswith(_NUMBER_SUFFIXES):
            try:
                out[f] = float(v)
            except ValueError:
                continue
            if f.endswith(_TIME_SUFFIX) and f not in times:
                times.append(f)
    out["forced"] = h.get("forced") == "1"
    for f in times:
        out[f + "_iso"] = utc_iso(out[f])
    return out


def encode_fields(fields: dict[str, Any]) -> dict[str, str]:
    """Run fields as stored strings (JSON for dicts, '1'/'0' for bools)."""
    out: dict[str, str] = {}
    for k, v in fields.items():
        if v is None:
            continue
        if isinstance(v, bool):
            out[k] = "1" if v else "0"
        elif isinstance(v, dict | list):
            out[k] = json.dumps(v, separators=(",", ":"))
        elif isinstance(v, float):
            out[k] = repr(v)
        else:
            out[k] = str(v)
    return out


class RunStore:
    """Create, read and list run records."""

    def __init__(self, store: Store):
        self._s = store
        self._r = store.redis
        self._k = store.keys

    def add(
        self,
        run_id: str,
        schedule_id: str,
        tenant_id: str,
        status: RunStatus,
        trigger: RunTrigger,
        score: float | None = None,
        only_new: bool = False,
        pipe: Any = None,
        **fields: Any,
    ) -> bool | None:
        """Write a run record and index it (trimming history beyond the cap).

        With ``only_new`` an existing record is left as it is and False returned. With
        ``pipe`` the write is queued there and None returned. A ``queued`` run is indexed as
        pending: if no worker takes it within the broker's visibility timeout (its message was
        lost), the pending sweep ends it.
        """
        score = time.time() if score is None else score
        data = encode_fields(
            {
                "run_id": run_id,
                "schedule_id": schedule_id,
                "tenant_id": tenant_id,
                "status": status.value,
                "trigger": trigger.value,
                **fields,
            }
        )
        pending = ""
        if status is RunStatus.QUEUED:
            pending = repr(float(score) + self._s.settings.effective_visibility_timeout_s)
        args: list[Any] = [
            run_id,
            repr(float(score)),
            self._s.settings.run_history_max,
            self._k.run(""),
            "nx" if only_new else "",
            pending,
        ]
        for k, v in data.items():
            args.extend((k, v))
        res = self._s.scripts.run(
            "add_run",
            [self._k.run(run_id), self._k.runs(schedule_id), self._k.pending],
            args,
            client=pipe,
        )
        return None if pipe is not None else bool(res)

    def update(self, run_id: str, **fields: Any) -> bool:
        """Set fields on an existing run record; False (nothing written) when it is gone."""
        data = encode_fields(fields)
        if not data:
            return True
        args = [x for kv in data.items() for x in kv]
        return bool(self._s.scripts.run("run_update", [self._k.run(run_id)], args))

    def get(self, run_id: str) -> dict[str, Any]:
        """The run ``run_id`` as a dict; raises NotFoundError."""
        h = self._r.hgetall(self._k.run(run_id))
        if not h:
            raise NotFoundError("run", run_id)
        return decode_run(h)

    def list(
        self, schedule_id: str, offset: int = 0, limit: int = 50
    ) -> builtins.list[dict[str, Any]]:
        """A page of a schedule's runs, newest first."""
        ids = self._r.zrevrange(self._k.runs(schedule_id), offset, offset + max(limit, 1) - 1)
        pipe = self._r.pipeline(transaction=False)
        for rid in ids:
            pipe.hgetall(self._k.run(rid))
        return [decode_run(h) for h in pipe.execute() if h]

    def count(self, schedule_id: str) -> int:
        """How many runs of the schedule are kept."""
        return int(self._r.zcard(self._k.runs(schedule_id)))
