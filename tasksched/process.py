"""Process lifetimes: a child process that must not outlive its parent."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

__all__ = ["die_with_parent"]


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
