"""The deployment files that need a real process to check: redis.conf in a real redis-server,
.env ignored by git."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.helpers import ROOT, free_port, wait_for

# ---- redis.conf ----------------------------------------------------------------------------


def test_production_redis_conf_loads_in_a_real_redis_server(tmp_path: Path) -> None:
    binary = shutil.which("redis-server")
    assert binary, "redis-server 7 is needed (the conf uses Redis 7 options)"
    import redis

    port = free_port()
    proc = subprocess.Popen(
        [binary, str(ROOT / "ops" / "redis.conf"), "--port", str(port), "--bind", "127.0.0.1",
         "--dir", str(tmp_path), "--requirepass", "pw"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    client = redis.Redis(port=port, password="pw", decode_responses=True)
    try:
        wait_for(client.ping, 10, what="redis-server with ops/redis.conf")
        config = client.config_get("*")
        assert config["appendonly"] == "yes"
        assert config["appendfsync"] == "everysec"
        assert config["maxmemory-policy"] == "noeviction"
        client.set("k", "v")
        wait_for(lambda: list(tmp_path.rglob("appendonly*")), 5, what="the AOF written")
    finally:
        client.close()
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert b"Bad directive" not in out and b"FATAL" not in out, out.decode()


# ---- .env ----------------------------------------------------------------------------------


def test_the_env_file_is_ignored_by_git() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0, ".env (real secrets) must be ignored by git"
