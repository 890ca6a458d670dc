"""A lean HTTP/1.1 server on asyncio: parsing by llhttp (``httptools``), framing and keep-alive here.

Why not tornado: the router relays one small request and its answer; tornado's HTTP/1.1
connection (its parser in Python, a coroutine per request, stream buffers and futures) was a
third of the router's busy time. This protocol hands each whole request to one handler and
writes each answer in one ``write``. It knows nothing of routes: the handler does.

What it keeps of a well-made HTTP/1.1 server: keep-alive, HTTP/1.0 and ``Connection: close``;
pipelined requests answered in order (one handled at a time per connection, the rest queued,
reading paused when too many wait); chunked request bodies; ``Expect: 100-continue``; a body
size limit (413) and a header size limit (431); a malformed request answered 400 and the
connection closed; a caller that hangs up mid-request harmless (its answer is dropped); idle
connections closed after a while; a graceful stop that lets in-flight requests finish.
"""
from __future__ import annotations

import asyncio
import http
import json
import logging
from collections import deque
from typing import Callable, Optional

import httptools

log = logging.getLogger("merlin.http1")
MAX_HEAD = 64 * 1024  # request line and headers
MAX_QUEUED = 16  # pipelined requests waiting behind the one being answered; beyond, stop reading
IDLE_TIMEOUT = 75.0  # seconds a connection may sit with nothing to do (checked every IDLE_TIMEOUT / 2)
_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in http.HTTPStatus}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Request:
    """One whole request. ``headers`` are the raw (name, value) pairs in the order sent."""

    __slots__ = ("method", "path", "headers", "body", "keep_alive", "http10", "error", "_chunks", "_connection")

    def __init__(self, connection: Connection | None = None) -> None:
        self._connection = connection
        self.method, self.path, self.body = "", "", b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.keep_alive, self.http10 = True, False
        self.error: Response | None = None  # set when the request is refused before its handler
        self._chunks: list[bytes] = []

    def header(self, name: bytes) -> bytes | None:
        """The first value of the header ``name`` (lower case), or None."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def respond(self, answer: Response) -> None:
        """Answer this request (a handler that returned None calls this once, later)."""
        self._connection._answered(self, answer)


class Response:
    """An answer. ``headers`` are ready-made ``Name: value\\r\\n`` lines (see ``header_lines``):
    the relay passes lines through without building a dict per request. Content-Length and
    Connection are the server's to write."""

    __slots__ = ("status", "body", "headers")

    def __init__(self, status: int, body: bytes = b"", headers: bytes = b"") -> None:
        self.status, self.body, self.headers = status, body, headers


# A handler answers at once (returns the Response) or later (returns None, then calls
# ``request.respond``): callbacks rather than a task per request, which would cost turns of the
# event loop between a model server's answer and its relay.
Handler = Callable[[Request], Optional[Response]]


def header_lines(headers: dict[str, str]) -> bytes:
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode("latin-1")


def json_response(status: int, document: object, headers: dict[str, str] | None = None) -> Response:
    lines = b"Content-Type: application/json\r\n" + (header_lines(headers) if headers else b"")
    return Response(status, json.dumps(document).encode(), lines)


def _refusal(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


class Connection(asyncio.Protocol):
    """One caller's connection: parse, queue, hand to the handler one at a time, answer in order."""

    def __init__(self, server: Server) -> None:
        self.server, self.handler, self.max_body = server, server.handler, server.max_body
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.request: Request | None = None  # the one being parsed
        self.size = 0  # of its head, then of its body
        self.queue: deque[Request] = deque()
        self.busy = False  # a request is with the handler
        self.closing = False  # no more requests: close once the queue is answered
        self.paused = False
        self.active = True  # something happened since the last idle check

    # asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.server.connections.add(self)

    def connection_lost(self, exc) -> None:
        # The caller hung up (or we closed). A request with the handler runs to its end (it
        # may already be at a model server); its answer goes nowhere. Queued ones are dropped.
        self.server.connections.discard(self)
        self.closing = True
        self.queue.clear()

    def data_received(self, data: bytes) -> None:
        self.active = True
        if self.closing:
            return  # after a refused request nothing more is read
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__  # what a callback raised
            if isinstance(refused, _Refused):
                self._refuse(refused.status, str(refused))
            else:  # a bug of ours in a callback: said in the log and to the caller
                log.error("parsing a request failed", exc_info=refused)
                self._refuse(500, f"The router failed to read this request ({refused!r}); its log has the "
                                  "details.")
        except httptools.HttpParserError as exc:
            self._refuse(400, f"The request is not valid HTTP/1.1 ({exc.args[0] if exc.args else exc}); "
                              "the connection is closed.")

    def pause_writing(self) -> None:  # a slow reader: asyncio buffers our writes, we read no more
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        if not self.paused:
            self.transport.resume_reading()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.request, self.size = Request(self), 0

    def on_url(self, url: bytes) -> None:
        self.request.path += url.decode("latin-1")
        self.size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.size += len(name) + len(value)
        if self.size > MAX_HEAD:
            raise _Refused(431, f"The request's headers are larger than {MAX_HEAD} bytes; send fewer or shorter ones.")
        self.request.headers.append((name, value))

    def on_headers_complete(self) -> None:
        request, parser = self.request, self.parser
        request.method = parser.get_method().decode("latin-1")
        request.http10 = parser.get_http_version() == "1.0"
        request.keep_alive = parser.should_keep_alive()
        if parser.should_upgrade():  # llhttp would take the body for the new protocol's bytes
            raise _Refused(400, "This router speaks HTTP/1.1 and does not switch protocols: send the request "
                                "without an Upgrade header (curl: without --http2).")
        self.size = 0
        length = request.header(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise _Refused(413, self._too_large())
        expect = request.header(b"expect")
        if expect is not None and expect.lower() == b"100-continue" and not self.busy and not self.queue:
            self.transport.write(_CONTINUE)  # only when no earlier answer is still to come

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > self.max_body:
            raise _Refused(413, self._too_large())
        self.request._chunks.append(body)

    def on_message_complete(self) -> None:
        request, self.request = self.request, None
        chunks = request._chunks
        request.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._enqueue(request)

    # queue and answers
    def _too_large(self) -> str:
        return (f"The request body is larger than this router accepts ({self.max_body} bytes); send fewer "
                "instances per request.")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``message`` after the answers still owed, then close: the stream is out of step."""
        log.warning("%d to a request the router could not take: %s", status, message)
        request = Request()
        request.error, request.keep_alive = _refusal(status, message), False
        self.closing = True
        self.transport.pause_reading()
        self._enqueue(request)

    def _enqueue(self, request: Request) -> None:
        if not request.keep_alive:
            self.closing = True
        if self.busy:
            self.queue.append(request)
            if len(self.queue) >= MAX_QUEUED and not self.paused:
                self.paused = True
                self.transport.pause_reading()
            return
        self._handle(request)

    def _handle(self, request: Request) -> None:
        if request.error is not None:
            return self._write(request, request.error)
        self.busy = True  # until it is answered, now or through request.respond
        try:
            answer = self.handler(request)
        except Exception as exc:  # the handler's bug: a 500 with words, never a dead connection
            answer = self._failed(request, exc)
        if answer is not None:
            self._answered(request, answer)

    def _answered(self, request: Request, answer: Response) -> None:
        self.busy = False
        self._write(request, answer)

    def _failed(self, request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.path, exc_info=exc)
        return _refusal(500, f"The router failed on this request ({type(exc).__name__}: {exc}); its log "
                             "has the details. Try again; if it persists, restart the router.")

    def _write(self, request: Request, answer: Response) -> None:
        transport = self.transport
        if transport.is_closing():
            return self._next()  # the caller is gone
        last = not request.keep_alive or (self.closing and not self.queue)
        connection = b"Connection: close\r\n" if last else (b"Connection: keep-alive\r\n" if request.http10 else b"")
        body = b"" if request.method == "HEAD" else answer.body
        transport.write(b"".join((_STATUS_LINES.get(answer.status) or f"HTTP/1.1 {answer.status} \r\n".encode(),
                                  answer.headers, b"Content-Length: %d\r\n" % len(answer.body), connection,
                                  b"\r\n", body)))
        if last:
            transport.close()
            return
        self._next()

    def _next(self) -> None:
        if self.queue:
            self._handle(self.queue.popleft())
            return
        if self.paused and not self.closing:
            self.paused = False
            self.transport.resume_reading()
        if self.closing and not self.busy:
            self.transport.close()

    def idle(self) -> bool:
        return not self.busy and not self.queue and self.request is None

    def close_when_idle(self) -> None:
        """For a stop: close now if nothing is owed, else after the answers owed."""
        self.closing = True
        if self.idle():
            self.transport.close()


class _Refused(Exception):
    """Raised in a parser callback: the request is answered ``status`` and the connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Server:
    """Listens, keeps the set of open connections, closes idle ones, and stops gracefully."""

    def __init__(self, handler: Handler, max_body: int) -> None:
        self.handler, self.max_body = handler, max_body
        self.connections: set[Connection] = set()
        self._server: asyncio.base_events.Server | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    async def listen(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: Connection(self), host, port, reuse_address=True)
        self._sweeper = loop.call_later(IDLE_TIMEOUT / 2, self._sweep)

    def _sweep(self) -> None:
        # No timer per request: a connection idle at two checks in a row is closed.
        for connection in list(self.connections):
            if not connection.active and connection.idle():
                connection.transport.close()
            connection.active = False
        self._sweeper = asyncio.get_running_loop().call_later(IDLE_TIMEOUT / 2, self._sweep)

    async def stop(self, grace: float) -> None:
        """Stop listening, close idle connections, and wait up to ``grace`` seconds for the
        requests in flight to be answered; whatever is still open then is closed."""
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for connection in list(self.connections):
            connection.close_when_idle()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.connections and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for connection in list(self.connections):
            connection.transport.abort()
