"""Process lifetimes: a child process that must not outlive its parent; telling systemd a
service is ready and alive (``sd_notify``)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys

__all__ = ["die_with_parent", "sd_notify"]


def die_with_parent(sig: int = signal.SIGKILL, parent_pid: int | None = None) -> None:
    """Have Linux send ``sig`` to this process when its parent dies (``PR_SET_PDEATHSIG``).

    With ``parent_pid``, exit at once if that parent is already gone (it died before the
    request took effect). Does nothing where ``prctl`` does not exist.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # 1: PR_SET_PDEATHSIG
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


def sd_notify(state: str) -> bool:
    """Send ``state`` (``READY=1``, ``WATCHDOG=1``, ...) to systemd's ``$NOTIFY_SOCKET``.

    systemd's notify protocol (one datagram on a unix socket; ``@`` is the abstract
    namespace). Returns False, doing nothing, when the process was not started by systemd
    with ``Type=notify`` or ``WatchdogSec=`` (no socket) or the socket refuses it.
    """
    path = os.environ.get("NOTIFY_SOCKET", "")
    if not path:
        return False
    address = "\0" + path[1:] if path.startswith("@") else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError:
        return False
    return True
