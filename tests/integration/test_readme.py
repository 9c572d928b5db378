"""The README is true on a fresh machine: every block of it runs as written.

The repository is cloned (its HEAD) into a temporary directory and used as a new user would,
with HOME pointed at a temporary directory and no TASKSCHED_* variable: `./run.sh` (it makes
the virtualenv and installs; pip may use this machine's cache and index), the first finished
demo run, the "Use it" Python block, then every other shell block after `. up.env` (as the
README says), and Ctrl-C to the process group as a terminal sends it, with no process left.
Then a second start from a shell that sourced the old up.env, as a background job of a
non-interactive shell (so SIGINT arrives ignored): the stale up.env is explained in one line,
and SIGINT still stops everything.

The blocks are parsed from README.md itself; there is no second copy of them here.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import psutil
import pytest

from tests.helpers import ROOT, VENV_BIN, Proc, wait_for

TERMINAL = ("succeeded", "rejected", "failed", "skipped")
# Shell blocks of the README this test does not run, and why. Any other block is run.
NOT_RUN = {
    "./run.sh": "started first, as the user does",
    "bash .ci/run": "the test suite itself",
    "celery -A tasksched beat": "production daemons: they run until stopped",
}


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", (ROOT / "README.md").read_text(), re.S | re.M)


def _fresh_env(home: Path) -> dict[str, str]:
    """This machine's environment as a new user's shell has it: no venv, no TASKSCHED_*."""
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("TASKSCHED_", "XDG_", "PYTEST", "VIRTUAL_ENV"))
            and k not in ("PYTHONPATH", "PYTHONHOME", "COV_CORE_SOURCE")}  # fmt: skip
    path = [p for p in keep.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p != str(VENV_BIN)]
    keep["PATH"] = os.pathsep.join(path)
    # pip may use this machine's cache (a new HOME would start an empty one) and its index
    keep["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")
    keep["HOME"] = str(home)
    return keep


def _shell(script: str, env: dict[str, str], cwd: Path, timeout_s: float = 900) -> str:
    """Run ``script`` in bash after sourcing up.env, as the README says; fail on any error."""
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c",
         '. "$HOME/.local/state/tasksched/up.env"\n' + script],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"{script}\n---\n{out}"
    return out


def _finished_run(proc: Proc) -> str:
    for line in proc.output().splitlines():
        if re.search(r"\s(" + "|".join(TERMINAL) + r")\s", line) and "trigger=cron" in line:
            return line
    return ""


def _family(pid: int) -> set[int]:
    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def _strays(*roots: Path) -> list[str]:
    """Processes still running from the clone or the temporary HOME."""
    out = []
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            if p.info["status"] != psutil.STATUS_ZOMBIE and any(str(r) in cmd for r in roots):
                out.append(f"{p.pid} {cmd[:120]}")
        except psutil.Error:
            continue
    return out


def _interrupt(proc: Proc, family: set[int], timeout_s: float = 120) -> str:
    """Ctrl-C: SIGINT to the process group, as a terminal sends it; the whole output.

    Waits for the shell and for every process of the stack (a shell may exit first, while
    `tasksched up` still stops its children).
    """
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.proc.wait(timeout_s)
        wait_for(lambda: not [p for p in family if psutil.pid_exists(p) and
                              psutil.Process(p).status() != psutil.STATUS_ZOMBIE],
                 timeout_s, 0.2, what="every process of the stack to exit")  # fmt: skip
    finally:
        proc.stop()
    return proc.log_path.read_text(errors="replace")


@pytest.mark.timeout(1500)
def test_the_readme_on_a_fresh_machine(tmp_path: Path) -> None:
    python_blocks, shell_blocks = _blocks("python"), _blocks("bash")
    assert len(python_blocks) == 1, "the README's Use it block"
    skipped = [b for b in shell_blocks if any(b.startswith(k) for k in NOT_RUN)]
    assert len(skipped) == len(NOT_RUN), skipped
    to_run = [b for b in shell_blocks if b not in skipped]
    assert any("tasksched status" in b for b in to_run) and any("curl" in b for b in to_run)

    repo, home = tmp_path / "tasksched", tmp_path / "home"
    home.mkdir()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True, timeout=120)
    env = _fresh_env(home)
    (run_sh,) = [b.strip() for b in shell_blocks if b.startswith("./run.sh")]

    # ---- ./run.sh, exactly as written ----------------------------------------------------
    proc = Proc(["bash", "-c", run_sh], env, tmp_path / "run.log", cwd=repo)
    family: set[int] = set()
    try:
        first = wait_for(lambda: _finished_run(proc), 900, 0.5, what="the first demo run")
        family = _family(proc.pid)
        out = proc.output()
        assert "run.sh: installing tasksched" in out and "installed " in out  # what, progress
        assert "Traceback" not in out, out
        assert "trigger=cron" in first

        # ---- the "Use it" Python block, as written, in a shell that sourced up.env --------
        used = _shell("python - <<'README_BLOCK'\n" + python_blocks[0] + "README_BLOCK\n",
                      env, repo)  # fmt: skip
        assert "next run: " in used
        # what the README says it prints (the demo's first model: validation 0.9331)
        assert ("rejected - rejected: validation 0.9331 < threshold 0.9500; "
                "no previous model: the candidate was removed") in used, used  # fmt: skip

        # ---- every other shell block -----------------------------------------------------
        for block in to_run:
            said = _shell(block, env, repo)
            if "tasksched run" in block:
                assert "succeeded" in said, said
            if "/status" in block:
                assert '"enabled":true' in said.replace(" ", ""), said
        assert (repo / "backup.json").exists()
        family |= _family(proc.pid)
    finally:
        out = _interrupt(proc, family) if proc.alive() else proc.output()
    assert proc.proc.returncode == 0, out
    assert "stopped: no process left running." in out, out
    assert _strays(repo, home) == []

    # ---- again, from a shell that sourced the old up.env, as its background job ----------
    again = Proc(["bash", "-c", '. "$HOME/.local/state/tasksched/up.env"; ./run.sh --no-demo & '
                  "wait"], env, tmp_path / "again.log", cwd=repo)  # fmt: skip
    family = set()
    try:
        wait_for(lambda: "ready." in again.output(), 300, 0.5, what="the second start")
        family = _family(again.pid)
        out = again.output()
        stale = [line for line in out.splitlines() if "stale up.env" in line]
        assert len(stale) == 1, out
        assert "run.sh: installing" not in out  # installed once
    finally:
        out = _interrupt(again, family) if again.alive() else again.output()
    assert "stopped: no process left running." in out, out
    assert "Traceback" not in out, out
    assert _strays(repo, home) == []
