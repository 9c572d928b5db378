"""Cron help and preview through the API."""

from __future__ import annotations

import httpx


def test_cron_help_lists_syntax_and_examples(acme: httpx.Client) -> None:
    r = acme.get("/cron-help")
    assert r.status_code == 200
    doc = r.json()
    assert doc["macros"]["@hourly"] == "0 * * * *"
    examples = {e["expression"]: e["description"] for e in doc["examples"]}
    assert examples["*/15 * * * *"] == "Every 15 minutes"
    assert "run_once" in doc["misfire_policies"]


def test_cron_preview_crosses_daylight_saving(acme: httpx.Client) -> None:
    # Berlin moves clocks forward at 02:00 on 2030-03-31: 02:30 does not exist that day.
    r = acme.get(
        "/cron/preview",
        params={
            "expression": "30 2 * * *",
            "timezone": "Europe/Berlin",
            "count": 3,
            "after": "2030-03-30T00:00:00+00:00",
        },
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["description"] == "At 02:30"
    assert doc["next_fire_times"] == [
        "2030-03-30T02:30:00+01:00",
        "2030-03-31T03:00:00+02:00",
        "2030-04-01T02:30:00+02:00",
    ]
    assert doc["next_fire_times_utc"][1] == "2030-03-31T01:00:00+00:00"
