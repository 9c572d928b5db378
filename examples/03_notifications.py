"""Multi-channel notifications: log, email, webhook and the per-tenant feed ("memory").

The example starts its own receivers on loopback, so it needs no mail account and no Slack: an
SMTP server (aiosmtpd) and an HTTP server (http.server) that records webhook posts. The
notifications worker of ``tasksched up`` delivers to them (``tasksched up`` lets webhooks
reach loopback; a production deployment refuses private addresses).

Run: ``. ~/.local/state/tasksched/up.env && python examples/03_notifications.py``
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from common import clean_tenant, manager, section, show_run

from tasksched import AutonomousConfig, NotificationConfig, NotificationType

TENANT = "example-notify"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """aiosmtpd handler: keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append({"to": envelope.rcpt_tos, "subject": str(message["Subject"])})
        return "250 OK"


def webhook_receiver(posts: list[dict[str, Any]]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            posts.append({"auth": self.headers.get("Authorization"), "body": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def wait_until(what: str, predicate: Any, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def main() -> None:
    scheduler = manager()
    clean_tenant(scheduler, TENANT)
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    posts: list[dict[str, Any]] = []
    hooks = webhook_receiver(posts)
    try:
        section("receivers on loopback")
        print(f"  SMTP on 127.0.0.1:{smtp.port}, webhook on 127.0.0.1:{hooks.server_port}")
        notifications = NotificationConfig(
            enabled=True,
            types=[NotificationType.LOG, NotificationType.EMAIL, NotificationType.WEBHOOK,
                   NotificationType.MEMORY],
            email_smtp_host="127.0.0.1",
            email_smtp_port=smtp.port,
            email_use_tls=False,  # a local relay; use STARTTLS (the default) for a real one
            email_sender="tasksched@example.com",
            email_recipients=["admin@example.com", "ops@example.com"],
            webhook_url=f"http://127.0.0.1:{hooks.server_port}/hooks/training",
            webhook_headers={"Authorization": "Bearer your-api-token"},
            webhook_timeout=30,
            memory_importance_score=8,
        )  # fmt: skip

        section("a test notification through every channel")
        result = scheduler.send_test_notification(config=notifications, tenant_id=TENANT,
                                                  timeout_s=60)  # fmt: skip
        for channel, outcome in sorted(result["channels"].items()):
            print(f"  {channel}: {outcome['status']}")

        section("a schedule that notifies, and a run")
        sid = scheduler.create_training_schedule(
            TENANT, "notified", "0 2 * * *", AutonomousConfig(notifications=notifications)
        )
        before_mail, before_posts = len(mailbox.messages), len(posts)
        run = scheduler.trigger_training(TENANT, sid, force=True).wait(timeout_s=300)
        show_run(run)
        done = f"run_{run['status']}"  # the event that ends the run: run_succeeded, ...
        wait_until("the webhook", lambda: any(p["body"].get("event") == done
                                              for p in posts[before_posts:]))  # fmt: skip
        # every event of the run is also mailed: "[tasksched] notified: <title> (<tenant>)"
        wait_until("the emails", lambda: sum("notified:" in m["subject"]
                                             for m in mailbox.messages[before_mail:]) >= 2)
        for m in mailbox.messages[before_mail:]:
            print(f"  email to {', '.join(m['to'])}: {m['subject']}")
        for p in posts[before_posts:]:
            body = p["body"]
            print(f"  webhook {body['event']} for {body['run_id']} "
                  f"(Authorization {'sent' if p['auth'] else 'missing'})")  # fmt: skip
        feed = scheduler.get_notifications(TENANT, limit=20)
        print(f"  feed: {[e['event'] for e in feed if e.get('run_id') == run['run_id']]}")
        scheduler.delete_schedule(sid)
    finally:
        smtp.stop()
        hooks.shutdown()


if __name__ == "__main__":
    main()
