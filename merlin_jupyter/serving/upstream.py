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

from .request_log import ID_HEADER

# A model server closes connections it has not heard on for 60 s (tornado's idle timeout); the
# router drops its idle ones sooner, and a draining revision waits for that (workers.py), so the
# router never sends a request on a connection the server is closing.
IDLE_KEEPALIVE = 2.0
MAX_IDLE_PER_ADDRESS = 256
MAX_HEAD = 64 * 1024  # a status line and headers longer than this are not a model server's
# The answer's headers the caller gets, passed through as the model server wrote them (lines of
# bytes: no dict, no decoding per request).
_PASSED_BACK = frozenset({b"content-type", b"content-encoding", b"date", ID_HEADER.lower().encode("latin-1")})
_JSON = b"Content-Type: application/json\r\n"


class UpstreamError(Exception):
    """The version endpoint closed, broke or timed out before a whole answer came."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; parses one answer at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_timer: asyncio.TimerHandle | None = None
        self._answer: asyncio.Future | None = None
        self._buffer = bytearray()
        self._head: tuple | None = None  # (status, passed-back header lines, length, chunked, keep)

    # asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        answer = self._answer
        if answer is not None and not answer.done():
            if self._head is not None and self._head[2] is None and not self._head[3]:
                answer.set_result(self._finish(bytes(self._buffer), keep=False))  # body ran to close
            else:
                answer.set_exception(UpstreamError(
                    "the connection closed before a whole answer" + (f": {exc}" if exc else "")))

    def data_received(self, data: bytes) -> None:
        answer = self._answer
        if answer is None or answer.done():
            self.close()  # bytes nobody asked for: this connection is out of step
            return
        self._buffer += data
        try:
            result = self._parse()
        except UpstreamError as exc:
            answer.set_exception(exc)
            self.close()
            return
        if result is not None:
            answer.set_result(result)

    # the client's side
    def send(self, request: bytes, body: bytes) -> asyncio.Future:
        self._answer = asyncio.get_running_loop().create_future()
        self._buffer.clear()
        self._head = None
        if len(body) < 65536:
            self.transport.write(request + body)  # one segment, one syscall
        else:
            self.transport.write(request)
            self.transport.write(body)  # no copy of a large body
        return self._answer

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _parse(self):
        buffer = self._buffer
        if self._head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise UpstreamError("the answer's headers never ended")
                return None
            self._head = _head(bytes(buffer[:end]))
            del buffer[:end + 4]
        _, _, length, chunked, keep = self._head
        if chunked:
            body = _dechunk(buffer)
            return None if body is None else self._finish(body, keep)
        if length is None:
            return None  # read until the server closes
        if len(buffer) < length:
            return None
        if len(buffer) > length:
            raise UpstreamError("the answer was longer than its Content-Length")
        return self._finish(bytes(buffer), keep)

    def _finish(self, body: bytes, keep: bool) -> tuple:
        return self._head[0], self._head[1], body, keep


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


class Upstream:
    """Keep-alive connections to the version endpoints, made on first use (inside the loop)."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = defaultdict(list)
        self._busy: set[_Connection] = set()

    async def forward(self, address: tuple[str, int], head: bytes, body: bytes, fields: bytes,
                      timeout: float) -> tuple[int, bytes, bytes]:
        """POST once and return (status, the header lines to pass back, body). ``head`` is the
        request line and Host (``request_head``), ``fields`` the other header lines. Raises OSError
        when the server cannot be reached, UpstreamError when it broke off or timed out."""
        connection = await self._acquire(address)
        answer = connection.send(b"%sContent-Length: %d\r\n%s\r\n" % (head, len(body), fields), body)
        loop = asyncio.get_running_loop()
        timer = loop.call_later(timeout, _time_out, connection, answer, timeout)
        self._busy.add(connection)
        try:
            status, passed, content, keep = await answer
        except BaseException:
            connection.close()  # cancelled or broken mid-answer: never reuse it
            raise
        finally:
            timer.cancel()
            self._busy.discard(connection)
        if keep and not connection.closed:
            self._release(address, connection, loop)
        else:
            connection.close()
        return status, passed, content

    async def _acquire(self, address: tuple[str, int]) -> _Connection:
        idle = self._idle.get(address)
        while idle:
            connection = idle.pop()
            connection.idle_timer.cancel()
            if not connection.closed:
                return connection
        _, connection = await asyncio.get_running_loop().create_connection(_Connection, *address)
        return connection

    def _release(self, address: tuple[str, int], connection: _Connection, loop) -> None:
        idle = self._idle[address]
        if len(idle) >= MAX_IDLE_PER_ADDRESS:
            connection.close()
            return
        connection.idle_timer = loop.call_later(IDLE_KEEPALIVE, self._expire, address, connection)
        idle.append(connection)

    def _expire(self, address: tuple[str, int], connection: _Connection) -> None:
        connection.close()
        idle = self._idle.get(address)
        if idle and connection in idle:
            idle.remove(connection)

    async def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.idle_timer.cancel()
                connection.close()
        self._idle.clear()
        for connection in list(self._busy):
            connection.close()


def _time_out(connection: _Connection, answer: asyncio.Future, seconds: float) -> None:
    if not answer.done():
        answer.set_exception(UpstreamError(f"no answer within {seconds:g} s"))
    connection.close()
