"""Lua scripts, loaded once from ``scripts/*.lua`` and run by SHA (EVALSHA)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import redis


@cache
def source(name: str) -> str:
    """The text of ``scripts/<name>.lua``."""
    return (resources.files("tasksched.store") / "scripts" / f"{name}.lua").read_text()


class Scripts:
    """Registered scripts of one client; ``scripts.run(name, keys, args, client=pipe)``."""

    def __init__(self, client: redis.Redis):
        self._client = client
        self._registered: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        """The registered script object (redis-py reloads it after a SCRIPT FLUSH/restart)."""
        script = self._registered.get(name)
        if script is None:
            script = self._client.register_script(source(name))
            self._registered[name] = script
        return script

    def run(self, name: str, keys: list[str], args: list[Any], client: Any = None) -> Any:
        """Run script ``name``; with ``client`` a pipeline, it is queued there."""
        return self.get(name)(keys=keys, args=args, client=client)
