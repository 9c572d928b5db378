"""Loaded by every Python process of the security tests (on their PYTHONPATH): no socket may
connect anywhere but loopback. A refused attempt raises and is written to
``$CONNECT_GUARD_LOG``, so a test can tell "tasksched refused it" (log empty) from "only this
guard stopped it" (log not empty). Unix sockets are not touched."""

from __future__ import annotations

import ipaddress
import os
import socket

_LOG = os.environ.get("CONNECT_GUARD_LOG", "")
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _loopback(address: object) -> bool:
    if not isinstance(address, tuple) or not address:
        return True
    try:
        ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
    except ValueError:
        return False  # a name here would bypass resolution checks: refuse it too
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _check(sock: socket.socket, address: object) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
        if _LOG:
            with open(_LOG, "a") as fh:
                fh.write(f"{os.getpid()} {address!r}\n")
        raise PermissionError(f"connect guard: {address!r} is not loopback")


def connect(self: socket.socket, address: object) -> None:
    _check(self, address)
    _connect(self, address)  # type: ignore[arg-type]


def connect_ex(self: socket.socket, address: object) -> int:
    _check(self, address)
    return _connect_ex(self, address)  # type: ignore[arg-type]


socket.socket.connect = connect  # type: ignore[method-assign,assignment]
socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
