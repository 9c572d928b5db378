"""A module that must never be imported by tasksched: importing it leaves a marker file.

Hostile configurations name it (``tests.learners.marker:Touch``) as a learner import path; the
security tests then check that no process (API, worker, training child, CLI) created
``$TASKSCHED_TEST_MARKER``.
"""

from __future__ import annotations

import os
from pathlib import Path

_marker = os.environ.get("TASKSCHED_TEST_MARKER")
if _marker:
    with open(_marker, "a") as fh:
        fh.write(f"imported by pid {os.getpid()}\n")


class Touch:
    """Were this ever built, it would write the marker again."""

    def __init__(self, options: dict[str, object] | None = None):
        if _marker:
            Path(_marker).write_text(f"built by pid {os.getpid()}\n")
