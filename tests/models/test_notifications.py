"""NotificationConfig: secrets masked in the public view, event filters per channel."""

from __future__ import annotations

from tasksched import NotificationConfig, NotificationEvent, NotificationType


def test_secrets_are_masked_in_the_public_view() -> None:
    notif = NotificationConfig(
        types=["webhook", "email"],
        webhook_url="https://hooks.example.com/x",
        webhook_headers={"Authorization": "Bearer tok123"},
        webhook_secret="sig-secret",
        email_smtp_host="smtp.example.com",
        email_recipients=["ops@example.com"],
        email_password="hunter2",
    )
    public = str(notif.public_dict())
    for secret in ("tok123", "sig-secret", "hunter2"):
        assert secret not in public
        assert secret not in repr(notif)
    assert notif.public_dict()["webhook_headers"] == {"Authorization": "********"}
    assert notif.secrets()["email_password"] == "hunter2"


def test_event_filters_choose_which_events_reach_a_channel() -> None:
    notif = NotificationConfig(types=["log", "memory"], event_filters={"memory": ["run_failed"]})
    assert notif.wants(NotificationType.LOG, NotificationEvent.RUN_SUCCEEDED)
    assert notif.wants(NotificationType.MEMORY, NotificationEvent.RUN_FAILED)
    assert not notif.wants(NotificationType.MEMORY, NotificationEvent.RUN_SUCCEEDED)
    assert not notif.wants(NotificationType.WEBHOOK, NotificationEvent.RUN_FAILED)
