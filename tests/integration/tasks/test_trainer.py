"""The learner's child process (``python -m tasksched.tasks.trainer``): what it costs to start,
and its pipe protocol answered step by step."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil

import tasksched
from tasksched.learners.base import RunContext
from tasksched.tasks.supervisor import LearnerChild
from tests.helpers import ROOT


def test_the_child_imports_neither_pydantic_redis_nor_celery() -> None:
    # Every run starts one: its start-up is what a skipped or trained run pays (bench/worker.py).
    code = (
        "import sys, tasksched.tasks.trainer, tasksched.learners.base, tasksched.gates\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'pydantic', 'redis', 'celery', 'kombu', 'psutil', 'requests'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)  # fmt: skip
    assert json.loads(out.stdout.replace("'", '"')) == []


def test_the_public_names_resolve_on_first_use() -> None:
    for name in tasksched.__all__:
        assert getattr(tasksched, name) is not None, name
    assert set(tasksched.__all__) <= set(dir(tasksched))


def test_steps_answered_in_order_and_the_child_ends_with_its_input(tmp_path: Path) -> None:
    ctx = RunContext("acme", "s1", "r1", str(tmp_path / "m")).to_dict()
    with LearnerChild(500, 1) as child:
        early = child.call("count_available_data", 30, {"context": ctx})
        assert early.outcome == "error" and "no such step now" in early.error
        loaded = child.call("load", 30, {"learner": "tests.learners.scripted:Scripted",
                                         "options": {"count": 7}})  # fmt: skip
        assert loaded.ok, loaded.error
        assert child.call("count_available_data", 30, {"context": ctx}).value == 7
        assert child.call("backup", 30, {"context": ctx}).value.endswith("r1.txt")
        trained = child.call("train", 30, {"context": ctx})
        assert trained.ok and trained.value["candidate"] == "model.txt"
        assert trained.value["evaluation"]["quality_score"] == 0.95 and trained.method == "evaluate"
        bad = child.call("evaluate", 30, {"context": ctx})  # not a step of its own
        assert bad.outcome == "error" and "no such step now: 'evaluate'" in bad.error
        pid = child.proc.pid if child.proc else 0
    assert child.exit_code == 0 and not psutil.pid_exists(pid)
