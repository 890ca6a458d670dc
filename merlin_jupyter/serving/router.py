"""``python -m merlin_jupyter.serving.router``: the local environment's model-endpoint router.

One process per environment serves every model endpoint at a stable URL,
``http://127.0.0.1:{port}/{project}/{model}/v1/predict`` (and ``/v2/infer``), and forwards each
request to one version endpoint chosen by the rule's weights. A mirror destination gets a copy of
the request, fire-and-forget: its answer is dropped and its failures or slowness never touch the
response. Each response names the version that served it (``X-Merlin-Version``).

The rules live in a JSON file the control plane replaces atomically, then asks the router to
reload (``POST /-/reload`` with the router's token). The router swaps its whole table in one
assignment, so a request sees either the old rule or the new one, never a mix; requests already
forwarded finish against the destination they were sent to. Reading the same file on start means
a restarted router serves every route again without the control plane.
"""
from __future__ import annotations

import argparse
import asyncio
import bisect
import hmac
import json
import logging
import os
import random
import signal
import sys
import urllib.parse
from dataclasses import dataclass
from typing import Any

from . import http1
from .router_metrics import RouterMetrics
from .router_proxy import PREDICT_PATH, Relay
from .upstream import Upstream, request_head

log = logging.getLogger("merlin.router")
TOKEN_ENV = "MERLIN_ROUTER_TOKEN"
STOP_GRACE = 20.0  # seconds a stop waits for the requests in flight
MAX_BODY = 100 * 1024 * 1024  # bytes; a model server has its own, usually smaller, limit


@dataclass(frozen=True)
class Destination:
    base: str  # http://host:port of the version endpoint's model server
    model_name: str  # {model}-{version}, the name it serves under
    version: int
    endpoint_id: str

    def __post_init__(self) -> None:
        # Worked out once per rule, not per request.
        url = urllib.parse.urlsplit(self.base)
        address = (url.hostname, url.port or 80)
        object.__setattr__(self, "address", address)
        object.__setattr__(self, "heads", {  # request line and Host, per protocol
            "v1": request_head(address, f"/v1/models/{self.model_name}:predict"),
            "v2": request_head(address, f"/v2/models/{self.model_name}/infer")})
        # What each answer says of the version that gave it (a 502: which version did not).
        version = f"X-Merlin-Version: {self.version}\r\n".encode("latin-1")
        object.__setattr__(self, "version_line", version)
        object.__setattr__(self, "version_lines",
                           version + f"X-Merlin-Version-Endpoint: {self.endpoint_id}\r\n".encode("latin-1"))


class Route:
    """One model endpoint's rule: destinations picked by weight, and an optional mirror."""

    def __init__(self, rule: dict[str, Any]):
        self.destinations = [_destination(d) for d in rule["destinations"]]
        self.mirror = _destination(rule["mirror"]) if rule.get("mirror") else None
        weights = [max(0, int(d.get("weight", 0))) for d in rule["destinations"]]
        if not any(weights):
            weights = [1] * len(weights)  # all-zero weights: spread evenly
        total, running, self._cumulative = sum(weights), 0, []
        for weight in weights:
            running += weight
            self._cumulative.append(running / total)

    def pick(self) -> Destination:
        index = bisect.bisect_right(self._cumulative, random.random())
        return self.destinations[min(index, len(self.destinations) - 1)]


def _destination(item: dict[str, Any]) -> Destination:
    return Destination(item["base"].rstrip("/"), item["model_name"], int(item["version"]),
                       str(item["endpoint_id"]))


class Table:
    """The route table, loaded from the rule file and replaced as a whole."""

    def __init__(self, path: str):
        self.path = path
        self.routes: dict[str, Route] = {}
        self.generation = 0

    def load(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            data = {"routes": {}}
        routes = {key: Route(rule) for key, rule in data.get("routes", {}).items()}
        self.routes = routes  # one assignment: requests see the old table or the new one
        self.generation += 1
        log.info("loaded %d route(s) from %s", len(routes), self.path)


class Paths:
    """The router's request handler: predictions to the relay, its own few paths answered here."""

    def __init__(self, table: Table, token: str, relay: Relay, metrics: RouterMetrics) -> None:
        self.table, self.token, self.relay, self.metrics = table, token, relay, metrics
        self.own = {"/-/reload": ("POST", self.reload), "/-/health": ("GET", self.health),
                    "/-/metrics": ("GET", self.render_metrics)}

    def __call__(self, request: http1.Request) -> http1.Response | None:
        match = PREDICT_PATH.fullmatch(request.path)
        if match is not None:
            if request.method != "POST":
                return self._refuse(405, f"{request.method} is not a prediction: POST the request body to "
                                         f"{request.path}.", request, {"Allow": "POST"})
            return self.relay(request, match.group(1), match.group(2), match.group(3) or match.group(4))
        own = self.own.get(request.path.partition("?")[0])
        if own is None:
            return self._refuse(404, f"Nothing is served at {request.path}: predictions go to "
                                     "/{project}/{model}/v1/predict or /{project}/{model}/v2/infer.", request)
        method, answer = own
        if request.method != method and not (method == "GET" and request.method == "HEAD"):
            return self._refuse(405, f"{request.path} takes {method} only.", request, {"Allow": method})
        return answer(request)

    def reload(self, request: http1.Request) -> http1.Response:
        sent = (request.header(b"x-merlin-router-token") or b"").decode("latin-1")
        if not self.token or not hmac.compare_digest(sent, self.token):
            return self._refuse(403, "Only the control plane may change routes.", request)
        try:
            self.table.load()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return self._refuse(400, f"The rule file could not be read ({exc}); routes unchanged.", request)
        return http1.json_response(200, {"routes": len(self.table.routes), "generation": self.table.generation})

    def health(self, request: http1.Request) -> http1.Response:
        return http1.json_response(200, {"routes": sorted(self.table.routes), "generation": self.table.generation})

    def render_metrics(self, request: http1.Request) -> http1.Response:
        body, content_type = self.metrics.render()
        return http1.Response(200, body, f"Content-Type: {content_type}\r\n".encode("latin-1"))

    @staticmethod
    def _refuse(status: int, message: str, request: http1.Request,
                headers: dict[str, str] | None = None) -> http1.Response:
        # Not a line per answered request (a write per request, and a log without end): the
        # version's own request log and the metrics keep the traffic. Failures are logged.
        log.warning("%d %s %s", status, request.method, request.path)
        return http1.json_response(status, {"error": message}, headers)


async def run(args: argparse.Namespace) -> None:
    table = Table(args.rules)
    table.load()
    upstream, metrics = Upstream(), RouterMetrics()
    paths = Paths(table, os.environ.get(TOKEN_ENV, ""), Relay(table, upstream, metrics), metrics)
    server = http1.Server(paths, args.max_body_bytes)
    await server.listen(args.host, args.port)
    log.info("routing model endpoints on http://%s:%s", args.host, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, table.load)
    await stop.wait()
    await server.stop(STOP_GRACE)  # requests in flight are answered first
    await upstream.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m merlin_jupyter.serving.router",
                                     description="Route model endpoints to version endpoints.")
    parser.add_argument("--rules", required=True, help="the JSON rule file to serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-body-bytes", type=int, default=MAX_BODY,
                        help=f"largest request body relayed, larger ones get a 413 (default {MAX_BODY})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        asyncio.run(run(args))
    except OSError as exc:
        print(f"merlin-router: failed: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}).",
              file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
