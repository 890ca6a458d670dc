"""The router's hot path: a prediction in, the same prediction out to one version endpoint.

Predictions skip tornado's web layer. For them the router is an HTTP/1.1 server delegate on
tornado's own connection handling (parsing, keep-alive, limits). A profile under ``wrk`` put
about half the router's Python in ``RequestHandler`` machinery (routing, handler objects,
default headers, the access log, the write path) that a relay does not need. Every other path
(reload, health, metrics, wrong methods) is handed to the tornado ``Application`` unchanged.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import TYPE_CHECKING

import tornado.httputil
import tornado.iostream
from tornado.httputil import HTTPHeaders, RequestStartLine, ResponseStartLine

from .request_log import VIA_HEADER as VIA
from .upstream import UpstreamError

if TYPE_CHECKING:
    from .router import Destination

log = logging.getLogger("merlin.router")
PREDICT_PATH = re.compile(r"/([^/?]+)/([^/?]+)/(?:(v1)/predict|(v2)/infer)(?:\?.*)?")
PREDICT_TIMEOUT = 300.0  # seconds
MIRROR_TIMEOUT = 30.0
MAX_MIRRORS_IN_FLIGHT = 64  # beyond this, mirror copies are dropped rather than queued
# Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection; Host and Content-Length are set
# anew for the hop to the model server. Everything else reaches the model (Merlin's PyFuncModel
# reads the request headers: tenants, tracing, the caller's identity).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "trailers",
                        "transfer-encoding", "upgrade", "proxy-authorization", "proxy-authenticate",
                        "host", "content-length"})


def forwarded_headers(headers: HTTPHeaders) -> dict[str, str]:
    """The request's end-to-end headers, as the model server should get them."""
    connection = headers.get("Connection")
    named = {token.strip().lower() for token in connection.split(",")} if connection else ()
    kept: dict[str, str] = {}
    for name, value in headers.get_all():
        lower = name.lower()
        if lower not in HOP_BY_HOP and lower not in named:
            kept[name] = f"{kept[name]}, {value}" if name in kept else value
    return kept


class RouterServer(tornado.httputil.HTTPServerConnectionDelegate):
    """Predictions to ``Relay``; everything else to the tornado application."""

    def __init__(self, app, table, client, metrics) -> None:
        self.app, self.table, self.client, self.metrics = app, table, client, metrics
        self.mirrors: set[asyncio.Future] = set()

    def start_request(self, server_conn: object, request_conn: tornado.httputil.HTTPConnection):
        return Relay(self, server_conn, request_conn)

    def on_close(self, server_conn: object) -> None:
        self.app.on_close(server_conn)


class Relay(tornado.httputil.HTTPMessageDelegate):
    def __init__(self, server: RouterServer, server_conn, request_conn) -> None:
        self.server, self.server_conn, self.conn = server, server_conn, request_conn
        self.other: tornado.httputil.HTTPMessageDelegate | None = None  # the application's
        self.chunks: list[bytes] = []

    def headers_received(self, start_line, headers: HTTPHeaders):
        assert isinstance(start_line, RequestStartLine)
        match = PREDICT_PATH.fullmatch(start_line.path) if start_line.method == "POST" else None
        if match is None:
            self.other = self.server.app.start_request(self.server_conn, self.conn)
            return self.other.headers_received(start_line, headers)
        self.started, self.path = asyncio.get_running_loop().time(), start_line.path
        self.project, self.model = match.group(1), match.group(2)
        self.protocol = match.group(3) or match.group(4)
        self.headers = headers
        return None

    def data_received(self, chunk: bytes):
        if self.other is not None:
            return self.other.data_received(chunk)
        self.chunks.append(chunk)
        return None

    def finish(self) -> None:
        if self.other is not None:
            return self.other.finish()
        body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        asyncio.ensure_future(self._relay(body))

    def on_connection_close(self) -> None:
        if self.other is not None:
            self.other.on_connection_close()

    async def _relay(self, body: bytes) -> None:
        server, key = self.server, f"{self.project}/{self.model}"
        route = server.table.routes.get(key)
        if route is None:
            return self._answer(404, {}, _error(
                f"No model endpoint serves {key} here: route traffic to one of its version endpoints "
                "first (serve_traffic or %merlin traffic)."), None, "Not Found")
        destination = route.pick()
        headers = forwarded_headers(self.headers)
        if route.mirror is not None:
            self._mirror(route.mirror, body, headers)
        headers[VIA] = "model_endpoint"  # the version's request log says how the request came
        try:
            status, reason, answer_headers, content = await server.client.forward(
                destination.address, destination.paths[self.protocol], body, headers, PREDICT_TIMEOUT)
        except (OSError, UpstreamError) as exc:
            why = str(exc) or type(exc).__name__
            return self._answer(502, {}, _error(
                f"Version {destination.version} of {key} did not answer ({why}): check that endpoint's "
                "status and logs."), destination, "Bad Gateway")
        self._answer(status, answer_headers, content, destination, reason)

    def _answer(self, status: int, headers: dict, body: bytes, destination: Destination | None,
                reason: str) -> None:
        out = HTTPHeaders(headers)
        if "Content-Type" not in headers:
            out["Content-Type"] = "application/json"
        if destination is not None:
            out["X-Merlin-Version"] = str(destination.version)
            if status != 502:
                out["X-Merlin-Version-Endpoint"] = destination.endpoint_id
        out["Content-Length"] = str(len(body))
        if status >= 400:
            log.warning("%d POST %s", status, self.path)
        try:
            self.conn.write_headers(ResponseStartLine("HTTP/1.1", status, reason), out, body)
            self.conn.finish()
        except tornado.iostream.StreamClosedError:
            pass  # the caller hung up; the answer has nobody to go to
        if destination is not None and self.server.metrics is not None:
            self.server.metrics.observe(f"{self.project}/{self.model}", destination.version, status,
                                        asyncio.get_running_loop().time() - self.started)

    def _mirror(self, destination: Destination, body: bytes, headers: dict) -> None:
        mirrors = self.server.mirrors
        if len(mirrors) >= MAX_MIRRORS_IN_FLIGHT:
            return  # a slow mirror must not pile up memory; dropping copies is the mirror's deal
        task = asyncio.ensure_future(self.server.client.forward(
            destination.address, destination.paths[self.protocol], body, {**headers, VIA: "mirror"},
            MIRROR_TIMEOUT))
        mirrors.add(task)
        task.add_done_callback(_forget(mirrors))


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def _forget(mirrors: set):
    def done(task: asyncio.Future) -> None:
        mirrors.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("mirror request failed: %s", task.exception())
    return done
