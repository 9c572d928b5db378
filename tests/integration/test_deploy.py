"""The deployment files that need a real process to check: redis.conf in a real redis-server,
.env ignored by git."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers import ROOT, free_port, redis_server_binary, wait_for, wait_for_server

# ---- redis.conf ----------------------------------------------------------------------------


def test_production_redis_conf_loads_in_a_real_redis_server(tmp_path: Path) -> None:
    binary = redis_server_binary()  # the system's redis-server 7 (the conf uses its options)
    import redis

    port = free_port()
    log = tmp_path / "redis-server.log"
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [binary, str(ROOT / "ops" / "redis.conf"), "--port", str(port), "--bind",
             "127.0.0.1", "--dir", str(tmp_path), "--requirepass", "pw"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    client = redis.Redis(host="127.0.0.1", port=port, password="pw", decode_responses=True)
    try:
        wait_for_server(client.ping, proc, log, "redis-server with ops/redis.conf")
        config = client.config_get("*")
        assert config["appendonly"] == "yes"
        assert config["appendfsync"] == "everysec"
        assert config["maxmemory-policy"] == "noeviction"
        client.set("k", "v")
        wait_for(lambda: list(tmp_path.rglob("appendonly*")), 5, what="the AOF written")
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)
    said = log.read_text(errors="replace")
    assert "Bad directive" not in said and "FATAL" not in said, said


# ---- .env ----------------------------------------------------------------------------------


def test_the_env_file_is_ignored_by_git() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0, ".env (real secrets) must be ignored by git"
