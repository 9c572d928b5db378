"""Webhook and SMTP targets a tenant names, sent through the real API and worker: internal
addresses are refused by tasksched itself before any connection (the loopback-only connect
guard in the worker logs nothing), and the reports do not act as a port scanner."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.integration.security.conftest import Rig, guarded_env

INTERNAL = ["127.0.0.1", "localhost", "10.0.0.1", "192.168.1.1", "172.16.0.1",
            "169.254.169.254", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:10.0.0.1]",
            "[2002:a00:1::1]", "[64:ff9b::a9fe:a9fe]", "[fd00::1]", "0.0.0.0", "100.64.0.1"]


def test_the_connect_guard_of_the_processes_under_test_is_active(rig: Rig) -> None:
    log = rig.root / "guard-selfcheck.log"
    env = {**guarded_env(rig.root), "CONNECT_GUARD_LOG": str(log)}
    probe = ("import socket\ntry:\n    socket.create_connection(('10.255.255.1', 9), 1)\n"
             "except PermissionError as e:\n    print('refused', e)\n")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                         text=True, timeout=30)  # fmt: skip
    assert out.stdout.startswith("refused connect guard"), out.stdout + out.stderr
    assert "10.255.255.1" in log.read_text()


def _test_send(client: httpx.Client, config: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/test-notification", json={"config": config, "timeout_s": 20})
    assert r.status_code == 200, r.text
    report: dict[str, Any] = r.json()
    assert report["complete"] is True, report
    return report


@pytest.mark.parametrize("host", INTERNAL)
def test_a_webhook_to_an_internal_address_is_refused(
    rig: Rig, acme: httpx.Client, hook_factory: Any, host: str
) -> None:
    hook = hook_factory()  # a real receiver on loopback: it must get nothing
    url = f"http://{host}:{hook.port}/hook"
    report = _test_send(acme, {"types": ["webhook"], "webhook_url": url})
    channel = report["channels"]["webhook"]
    assert channel["status"] == "failed" and "refusing" in channel["error"], channel
    assert hook.requests == []
    assert not rig.guard_log.exists(), rig.guard_log.read_text()  # tasksched refused first


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254",
                                  "::1", "::ffff:192.168.0.1"])
def test_an_smtp_host_on_an_internal_address_is_refused(
    rig: Rig, acme: httpx.Client, smtp_factory: Any, host: str
) -> None:
    smtp = smtp_factory(mode="plain")
    config = {"types": ["email"], "email_smtp_host": host, "email_smtp_port": smtp.port,
              "email_use_tls": False, "email_recipients": ["ops@example.com"]}
    channel = _test_send(acme, config)["channels"]["email"]
    assert channel["status"] == "failed" and "refusing" in channel["error"], channel
    assert smtp.inbox.messages == []
    assert not rig.guard_log.exists(), rig.guard_log.read_text()


def test_a_password_over_plain_smtp_is_refused(rig: Rig, acme: httpx.Client) -> None:
    config = {"types": ["email"], "email_smtp_host": "smtp.example.com", "email_use_tls": False,
              "email_recipients": ["ops@example.com"], "email_username": "u",
              "email_password": "pw-in-clear"}  # fmt: skip
    channel = _test_send(acme, config)["channels"]["email"]
    assert channel["status"] == "failed" and "plain SMTP" in channel["error"], channel
    assert "pw-in-clear" not in str(channel)
    assert not rig.guard_log.exists()
