"""The router's keep-alive HTTP/1.1 client to the version endpoints (model servers).

Why not a general client: the router's hop was most of its cost. aiohttp spent more Python per
request (request and response objects, multidicts, timers, tracing hooks) than the rest of the
router together. The upstream is always this project's model server, which answers
``Content-Length`` (or chunked) HTTP/1.1 on loopback, so the client needs little: one write per
request, a parser for the status line and the few headers passed back, and a pool of idle
connections per address.

A request is sent once, never twice: a POST is a prediction a model may act on (count, charge,
write), and once its bytes are out nothing tells whether the server read it. So a redeploy must
not close a connection under a request: the draining revision answers on its open connections
with ``Connection: close`` and waits for the router to drop its idle ones (``IDLE_KEEPALIVE``)
before it exits.
"""
from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

from .request_log import ID_HEADER

# A model server closes connections it has not heard on for 60 s (tornado's idle timeout); the
# router drops its idle ones sooner, and a draining revision waits for that (workers.py), so the
# router never sends a request on a connection the server is closing.
IDLE_KEEPALIVE = 2.0
SWEEP = 0.5  # seconds between checks of timeouts and idle connections (a draining server waits 5 s)
MAX_IDLE_PER_ADDRESS = 256
MAX_HEAD = 64 * 1024  # a status line and headers longer than this are not a model server's
# The answer's headers the caller gets, passed through as the model server wrote them (lines of
# bytes: no dict, no decoding per request).
_PASSED_BACK = frozenset({b"content-type", b"content-encoding", b"date", ID_HEADER.lower().encode("latin-1")})
_JSON = b"Content-Type: application/json\r\n"


class UpstreamError(Exception):
    """The version endpoint closed, broke or timed out before a whole answer came."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; parses one answer at a time and hands it to its waiter."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.since = 0.0  # loop time it became idle
        self.deadline, self.timeout = 0.0, 0.0  # loop time the answer is due by, and the seconds given
        self.waiter: _Waiter | None = None
        self._buffer = bytearray()
        self._head: tuple | None = None  # (status, passed-back header lines, length, chunked, keep)

    # asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.waiter is not None:
            if self._head is not None and self._head[2] is None and not self._head[3]:
                self._done(bytes(self._buffer), keep=False)  # the body ran to the close
            else:
                self.fail(UpstreamError("the connection closed before a whole answer" + (f": {exc}" if exc else "")))

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:
            self.close()  # bytes nobody asked for: this connection is out of step
            return
        self._buffer += data
        try:
            self._parse()
        except UpstreamError as exc:
            self.fail(exc)

    # the client's side
    def send(self, request: bytes, body: bytes, waiter: _Waiter, timeout: float) -> None:
        self.waiter, self.timeout = waiter, timeout
        self.deadline = asyncio.get_running_loop().time() + timeout
        self._buffer.clear()
        self._head = None
        if len(body) < 65536:
            self.transport.write(request + body)  # one segment, one syscall
        else:
            self.transport.write(request)
            self.transport.write(body)  # no copy of a large body

    def fail(self, exc: Exception) -> None:
        """End the request in flight with ``exc``; the connection is not used again."""
        waiter, self.waiter = self.waiter, None
        self.close()
        if waiter is not None:
            waiter.upstream._busy.discard(self)
            waiter.failed(exc)

    def _done(self, body: bytes, keep: bool) -> None:
        waiter, self.waiter = self.waiter, None
        status, headers = self._head[0], self._head[1]
        waiter.upstream._finished(waiter.address, self, keep)
        waiter.done(status, headers, body)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _parse(self) -> None:
        buffer = self._buffer
        if self._head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise UpstreamError("the answer's headers never ended")
                return
            self._head = _head(bytes(buffer[:end]))
            del buffer[:end + 4]
        _, _, length, chunked, keep = self._head
        if chunked:
            body = _dechunk(buffer)
            if body is not None:
                self._done(body, keep)
            return
        if length is None or len(buffer) < length:
            return  # more to come (without a length: until the server closes)
        if len(buffer) > length:
            raise UpstreamError("the answer was longer than its Content-Length")
        self._done(bytes(buffer), keep)


def _head(raw: bytes) -> tuple:
    lines = raw.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise UpstreamError(f"not an HTTP/1.1 answer: {lines[0][:80]!r}")
    status = int(parts[1])
    keep = parts[0] == b"HTTP/1.1"
    passed, typed = [], False
    length, chunked = None, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip()
        if name == b"content-length":
            if not value.isdigit():
                raise UpstreamError(f"unreadable Content-Length {value[:40]!r}")
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            keep = keep and b"close" not in value.lower()
        elif name in _PASSED_BACK:
            passed.append(line)
            passed.append(b"\r\n")
            typed = typed or name == b"content-type"
    if status in (204, 304) or 100 <= status < 200:
        length = 0
    if not typed:
        passed.append(_JSON)
    return status, b"".join(passed), length, chunked, keep


def _dechunk(buffer: bytearray) -> bytes | None:
    """The body of a complete chunked answer in ``buffer``, or None while it is incomplete."""
    out, at = [], 0
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        try:
            size = int(bytes(buffer[at:line_end]).split(b";", 1)[0], 16)
        except ValueError:
            raise UpstreamError("unreadable chunk size") from None
        if size == 0:
            return b"".join(out) if buffer.find(b"\r\n\r\n", line_end) >= 0 else None  # trailers end
        start = line_end + 2
        if len(buffer) < start + size + 2:
            return None
        out.append(bytes(buffer[start:start + size]))
        at = start + size + 2


def request_head(address: tuple[str, int], path: str) -> bytes:
    """The request line and Host of a POST to ``path``: the same for every request to a
    destination, so worked out once per rule."""
    host = address[0] if ":" not in address[0] else f"[{address[0]}]"  # an IPv6 literal
    return f"POST {path} HTTP/1.1\r\nHost: {host}:{address[1]}\r\n".encode("latin-1")


Done = Callable[[int, bytes, bytes], None]  # status, the header lines to pass back, body
Failed = Callable[[Exception], None]


@dataclass(frozen=True)
class _Waiter:
    upstream: Upstream
    address: tuple[str, int]
    done: Done
    failed: Failed


class Upstream:
    """Keep-alive connections to the version endpoints, made on first use (inside the loop).

    Callbacks, not coroutines: the answer is handed on from the model server's ``data_received``
    straight to the caller's socket. A future and a task per request cost two more turns of the
    event loop (an ``epoll_wait`` each) between the answer and its relay. Timeouts and idle
    connections are checked by one sweep every ``SWEEP`` seconds, not a timer per request.
    """

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = defaultdict(list)
        self._busy: set[_Connection] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    def send(self, address: tuple[str, int], head: bytes, body: bytes, fields: bytes, timeout: float,
             done: Done, failed: Failed) -> None:
        """POST once; later call ``done(status, header lines to pass back, body)`` or
        ``failed(exc)``, exactly once and never from inside this call. ``head`` is the request
        line and Host (``request_head``), ``fields`` the other header lines. ``exc`` is an
        OSError when the server cannot be reached, UpstreamError when it broke off or timed out."""
        loop = asyncio.get_running_loop()
        waiter, request = _Waiter(self, address, done, failed), b"%sContent-Length: %d\r\n%s\r\n" % (
            head, len(body), fields)
        if self._sweeper is None:
            self._sweeper = loop.call_later(SWEEP, self._sweep)
        idle = self._idle.get(address)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                self._busy.add(connection)
                connection.send(request, body, waiter, timeout)
                return
        loop.create_task(self._connect_and_send(request, body, waiter, timeout))

    async def _connect_and_send(self, request: bytes, body: bytes, waiter: _Waiter, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(loop.create_connection(_Connection, *waiter.address), timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            waiter.failed(exc if isinstance(exc, OSError) else UpstreamError(f"no connection within {timeout:g} s"))
            return
        self._busy.add(connection)
        connection.send(request, body, waiter, timeout)

    def _finished(self, address: tuple[str, int], connection: _Connection, keep: bool) -> None:
        self._busy.discard(connection)
        idle = self._idle[address]
        if not keep or connection.closed or len(idle) >= MAX_IDLE_PER_ADDRESS:
            connection.close()
            return
        connection.since = asyncio.get_running_loop().time()
        idle.append(connection)

    def _sweep(self) -> None:
        now = asyncio.get_running_loop().time()
        for connection in [c for c in self._busy if c.deadline <= now]:
            connection.fail(UpstreamError(f"no answer within {connection.timeout:g} s"))
        for address, idle in list(self._idle.items()):
            for connection in [c for c in idle if now - c.since >= IDLE_KEEPALIVE or c.closed]:
                connection.close()
                idle.remove(connection)
            if not idle:
                del self._idle[address]
        self._sweeper = None
        if self._busy or self._idle:
            self._sweeper = asyncio.get_running_loop().call_later(SWEEP, self._sweep)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        for connection in list(self._busy):
            connection.fail(UpstreamError("the router is stopping"))
