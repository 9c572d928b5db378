"""A fault-injecting TCP proxy between a process and a real redis-server (tests only).

It forwards Redis's protocol (RESP) both ways and knows which reply answers which command, so a
test can cut a connection at the worst moment: **after Redis ran a command, before its reply
reached the client** (the proxy reads the reply, drops it and closes both sides). That is what a
failover, a restart or a network blip does to a client; redis-py then sees a connection error
and, with its retry policy, sends the command again. A cut *before* the command reached Redis is
there too (``where="request"``).

Rules select commands by name and first argument (``EVALSHA <sha of a script>``, ``EXEC``), skip
a number of matches and cut a number of times::

    with FaultProxy(redis_port) as proxy:
        rule = proxy.cut("EVALSHA", script_sha("claim_batch"))
        store = Store(settings=Settings(redis_url=proxy.url))
        ...
        assert rule.cuts == 1 and proxy.executed("EVALSHA", script_sha("claim_batch")) == 2

A connection that subscribes (pub/sub: replies without requests) is passed through unparsed.
Threads, not asyncio: the processes under test are ordinary blocking clients, and one thread
per direction keeps the reply bookkeeping in arrival order.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tasksched.store.scripts import source

__all__ = ["FaultProxy", "Rule", "load_scripts", "script_sha"]


def script_sha(name: str) -> str:
    """The SHA1 Redis knows the tasksched script ``name`` by (what EVALSHA sends)."""
    return hashlib.sha1(source(name).encode()).hexdigest()


def load_scripts(client: Any) -> None:
    """Load every tasksched script into Redis (so a cut EVALSHA is the real call, not the
    NOSCRIPT answer that makes redis-py load it first)."""
    from importlib import resources

    for path in resources.files("tasksched.store").joinpath("scripts").iterdir():
        if path.name.endswith(".lua"):
            client.script_load(source(path.name.removesuffix(".lua")))


class _Incomplete(Exception):
    pass


def _line(buf: bytes | bytearray, pos: int) -> tuple[bytes, int]:
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    return bytes(buf[pos:end]), end + 2


def parse(buf: bytes | bytearray, pos: int = 0) -> tuple[Any, int]:
    """One RESP2/RESP3 value from ``buf`` at ``pos``: (value, position after it).

    Bulk strings come back as bytes, arrays as lists, errors as ``("ERR", text)``. Raises
    ``_Incomplete`` when the value has not fully arrived.
    """
    if pos >= len(buf):
        raise _Incomplete
    start = pos
    kind = buf[pos : pos + 1]
    head, pos = _line(buf, pos + 1)
    if kind in (b"+", b",", b"(", b"#"):
        return head, pos
    if kind in (b"-", b"!"):
        if kind == b"!":
            n = int(head)
            if len(buf) < pos + n + 2:
                raise _Incomplete
            return ("ERR", bytes(buf[pos : pos + n])), pos + n + 2
        return ("ERR", head), pos
    if kind == b":":
        return int(head), pos
    if kind == b"_":
        return None, pos
    if kind in (b"$", b"="):
        n = int(head)
        if n < 0:
            return None, pos
        if len(buf) < pos + n + 2:
            raise _Incomplete
        return bytes(buf[pos : pos + n]), pos + n + 2
    if kind in (b"*", b"~", b">", b"%", b"|"):
        n = int(head)
        if n < 0:
            return None, pos
        count = 2 * n if kind in (b"%", b"|") else n
        items = []
        for _ in range(count):
            item, pos = parse(buf, pos)
            items.append(item)
        if kind == b"|":  # an attribute map precedes the real reply
            return parse(buf, pos)
        return items, pos
    # An inline command (telnet style): words up to the line end.
    return bytes(buf[start : pos - 2]).split(), pos


@dataclass
class Rule:
    """Cut the connection at the ``skip + 1``-th matching command, ``times`` times.

    ``where``: ``"reply"`` (Redis ran the command, its reply is dropped) or ``"request"`` (the
    command never reaches Redis).
    """

    command: str
    arg: str | None = None
    skip: int = 0
    times: int = 1
    where: str = "reply"
    seen: int = 0
    cuts: int = 0

    def matches(self, cmd: str, arg: str | None) -> bool:
        return cmd == self.command and (self.arg is None or arg == self.arg)

    def take(self) -> bool:
        """Count a match; True when this one is to be cut."""
        self.seen += 1
        if self.seen > self.skip and self.cuts < self.times:
            self.cuts += 1
            return True
        return False


@dataclass(eq=False)
class _Conn:
    client: socket.socket
    upstream: socket.socket
    pending: deque[tuple[str, str | None, bool]] = field(default_factory=deque)
    passthrough: bool = False
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for s in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()


class FaultProxy:
    """A TCP proxy on a free loopback port in front of ``upstream_host:upstream_port``."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._conns: set[_Conn] = set()
        self._executed: dict[tuple[str, str | None], int] = {}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="faultproxy", daemon=True)

    # ---- control --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0`` through the proxy."""
        return f"redis://127.0.0.1:{self.port}/0"

    def cut(
        self,
        command: str,
        arg: str | None = None,
        skip: int = 0,
        times: int = 1,
        where: str = "reply",
    ) -> Rule:
        """Add a rule (see :class:`Rule`); returns it to read its counters."""
        rule = Rule(command.upper(), arg, skip, times, where)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def executed(self, command: str, arg: str | None = None) -> int:
        """How many matching commands reached Redis through the proxy."""
        with self._lock:
            if arg is not None:
                return self._executed.get((command.upper(), arg), 0)
            return sum(n for (c, _), n in self._executed.items() if c == command.upper())

    def sever(self) -> int:
        """Close every open connection now (a network blip); returns how many."""
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.close()
        return len(conns)

    def start(self) -> FaultProxy:
        """Accept connections in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and close every connection."""
        self._stopped.set()
        self._thread.join(5)
        with contextlib.suppress(OSError):
            self._server.close()
        self.sever()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- the pumps ------------------------------------------------------------------------
    def _accept(self) -> None:
        self._server.settimeout(0.1)  # to notice stop(): close() does not wake accept()
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(client, upstream)
            with self._lock:
                self._conns.add(conn)
            threading.Thread(target=self._requests, args=(conn,), daemon=True).start()
            threading.Thread(target=self._replies, args=(conn,), daemon=True).start()

    def _decide(self, words: list[Any]) -> tuple[str, str | None, str]:
        """(command, first argument, action) for a request; action: pass|reply|request."""
        cmd = bytes(words[0]).decode(errors="replace").upper() if words else ""
        arg = bytes(words[1]).decode(errors="replace") if len(words) > 1 else None
        action = "pass"
        with self._lock:
            for rule in self._rules:
                if rule.matches(cmd, arg) and rule.take():
                    action = rule.where
                    break
            if action != "request":
                key = (cmd, arg if cmd in ("EVALSHA", "EVAL") else None)
                self._executed[key] = self._executed.get(key, 0) + 1
        return cmd, arg, action

    def _requests(self, conn: _Conn) -> None:
        buf = bytearray()
        try:
            while True:
                data = conn.client.recv(65536)
                if not data:
                    break
                if conn.passthrough:
                    conn.upstream.sendall(data)
                    continue
                buf += data
                out = bytearray()
                pos = 0
                while True:
                    try:
                        words, end = parse(buf, pos)
                    except _Incomplete:
                        break
                    cmd, arg, action = self._decide(words if isinstance(words, list) else [])
                    if action == "request":
                        if out:
                            conn.upstream.sendall(out)
                        conn.close()
                        return
                    conn.pending.append((cmd, arg, action == "reply"))
                    out += buf[pos:end]
                    pos = end
                    if cmd in ("SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "MONITOR"):
                        # Replies now come without requests: stop pairing them.
                        conn.passthrough = True
                        out += buf[pos:]
                        pos = len(buf)
                        break
                del buf[:pos]
                if out:
                    conn.upstream.sendall(out)
        except OSError:
            pass
        finally:
            conn.close()
            with self._lock:
                self._conns.discard(conn)

    def _replies(self, conn: _Conn) -> None:
        buf = bytearray()
        try:
            while True:
                data = conn.upstream.recv(65536)
                if not data:
                    break
                if conn.passthrough and not conn.pending:
                    conn.client.sendall(bytes(buf) + data)
                    buf.clear()
                    continue
                buf += data
                pos = 0
                out = bytearray()
                while conn.pending:
                    try:
                        _value, end = parse(buf, pos)
                    except _Incomplete:
                        break
                    _cmd, _arg, cut = conn.pending.popleft()
                    if cut:
                        # Redis ran it; the client never hears back.
                        if out:
                            conn.client.sendall(out)
                        conn.close()
                        return
                    out += buf[pos:end]
                    pos = end
                del buf[:pos]
                if conn.passthrough and not conn.pending:
                    out += buf
                    buf.clear()
                if out:
                    conn.client.sendall(out)
        except OSError:
            pass
        finally:
            conn.close()
