"""Redaction of secrets in what a channel reports."""

from __future__ import annotations

from tasksched.notify.channels import redact


def test_redact_masks_every_secret_longest_first() -> None:
    text = "login tok-abc failed for tok-abcdef; pw=hunter22"
    assert redact(text, ["tok-abc", "tok-abcdef", "hunter22", "", "ab"]) == (
        "login ******** failed for ********; pw=********"
    )
