"""The router's hot path: a prediction in, the same prediction out to one version endpoint.

``Relay`` gets a whole request from the HTTP/1.1 server (``http1``), picks the destination,
forwards the body with the caller's end-to-end headers over a keep-alive connection
(``upstream``), sends a copy to the mirror if the rule has one, and answers with what the
version said plus which version it was. Headers stay bytes from the caller's socket to the
model server's and back: no dict or string is built per request for them.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import TYPE_CHECKING

from .http1 import Request, Response
from .request_log import VIA_HEADER

if TYPE_CHECKING:
    from .router import Destination, Table
    from .router_metrics import RouterMetrics
    from .upstream import Upstream

log = logging.getLogger("merlin.router")
PREDICT_PATH = re.compile(r"/([^/?]+)/([^/?]+)/(?:(v1)/predict|(v2)/infer)(?:\?.*)?")
PREDICT_TIMEOUT = 300.0  # seconds
MIRROR_TIMEOUT = 30.0
MAX_MIRRORS_IN_FLIGHT = 64  # beyond this, mirror copies are dropped rather than queued
# Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection; Host and Content-Length are set
# anew for the hop to the model server. Everything else reaches the model (Merlin's PyFuncModel
# reads the request headers: tenants, tracing, the caller's identity).
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"trailers",
                        b"transfer-encoding", b"upgrade", b"proxy-authorization", b"proxy-authenticate",
                        b"host", b"content-length", b"expect"})
# The version's request log says how the request came (the model endpoint, or a mirror copy).
VIA = f"{VIA_HEADER}: model_endpoint\r\n".encode()
VIA_MIRROR = f"{VIA_HEADER}: mirror\r\n".encode()


def forwarded_headers(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The request's end-to-end headers as header lines for the model server, in the order sent.

    Also drops the headers the caller's ``Connection`` names as this hop's own. ``Expect`` is
    this hop's too: the router already read the whole body."""
    named: frozenset | set = HOP_BY_HOP
    lines = []
    for name, value in headers:
        lower = name.lower()
        if lower == b"connection":
            named = HOP_BY_HOP | {token.strip().lower() for token in value.split(b",")}
        lines.append((lower, name, value))
    return b"".join(b"%s: %s\r\n" % (name, value) for lower, name, value in lines if lower not in named)


class Relay:
    """Predictions to version endpoints, by the route table's rule for their model endpoint."""

    def __init__(self, table: Table, client: Upstream, metrics: RouterMetrics | None) -> None:
        self.table, self.client, self.metrics = table, client, metrics
        self.mirrors = 0  # copies in flight

    def __call__(self, request: Request, project: str, model: str, protocol: str) -> Response | None:
        """The answer now (no such model endpoint), or None and ``request.respond`` later."""
        key = f"{project}/{model}"
        route = self.table.routes.get(key)
        if route is None:
            return _error(404, f"No model endpoint serves {key} here: route traffic to one of its version "
                               "endpoints first (serve_traffic or %merlin traffic).", request)
        destination = route.pick()
        fields = forwarded_headers(request.headers)
        if route.mirror is not None:
            self._mirror(route.mirror, protocol, request.body, fields)
        _Forward(self, request, key, destination).send(destination.heads[protocol], fields)
        return None

    def _mirror(self, destination: Destination, protocol: str, body: bytes, fields: bytes) -> None:
        if self.mirrors >= MAX_MIRRORS_IN_FLIGHT:
            return  # a slow mirror must not pile up memory; dropping copies is the mirror's deal
        self.mirrors += 1
        self.client.send(destination.address, destination.heads[protocol], body, fields + VIA_MIRROR,
                         MIRROR_TIMEOUT, self._mirrored, self._mirror_failed)

    def _mirrored(self, status: int, headers: bytes, body: bytes) -> None:
        self.mirrors -= 1  # the mirror's answer is dropped: it never reaches the caller

    def _mirror_failed(self, exc: Exception) -> None:
        self.mirrors -= 1
        log.debug("mirror request failed: %s", exc)


class _Forward:
    """One prediction on its way: sent to a version, its answer (or failure) relayed back."""

    __slots__ = ("relay", "request", "key", "destination", "started")

    def __init__(self, relay: Relay, request: Request, key: str, destination: Destination) -> None:
        self.relay, self.request, self.key, self.destination = relay, request, key, destination

    def send(self, head: bytes, fields: bytes) -> None:
        loop = asyncio.get_running_loop()
        self.started = loop.time()
        self.relay.client.send(self.destination.address, head, self.request.body, fields + VIA, PREDICT_TIMEOUT,
                               self.answered, self.failed)

    def answered(self, status: int, headers: bytes, body: bytes) -> None:
        if status >= 400:
            log.warning("%d POST %s", status, self.request.path)
        self.request.respond(Response(status, body, headers + self.destination.version_lines))
        self._observe(status)  # after the answer is on its way

    def failed(self, exc: Exception) -> None:
        why = str(exc) or type(exc).__name__
        answer = _error(502, f"Version {self.destination.version} of {self.key} did not answer ({why}): "
                             "check that endpoint's status and logs.", self.request)
        answer.headers += self.destination.version_line
        self.request.respond(answer)
        self._observe(502)

    def _observe(self, status: int) -> None:
        metrics = self.relay.metrics
        if metrics is not None:
            metrics.observe(self.key, self.destination.version, status,
                            asyncio.get_running_loop().time() - self.started)


def _error(status: int, message: str, request: Request) -> Response:
    log.warning("%d %s %s", status, request.method, request.path)
    return Response(status, json.dumps({"error": message}).encode(), b"Content-Type: application/json\r\n")
