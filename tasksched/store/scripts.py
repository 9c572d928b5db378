"""Lua scripts, loaded once from ``scripts/*.lua`` and run by SHA (EVALSHA).

A line ``-- #include NAME`` is replaced by ``scripts/lib/NAME.lua``: a rule shared by several
scripts (trimming the run history) has one copy.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import redis

_INCLUDE = "-- #include "


def _read(*parts: str) -> str:
    return resources.files("tasksched.store").joinpath("scripts", *parts).read_text()


@cache
def source(name: str) -> str:
    """The text of ``scripts/<name>.lua`` with its includes expanded."""
    lines = []
    for line in _read(f"{name}.lua").splitlines():
        if line.startswith(_INCLUDE):
            lines.append(_read("lib", line.removeprefix(_INCLUDE).strip() + ".lua").rstrip())
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


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
