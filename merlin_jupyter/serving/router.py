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

import tornado.httpserver
import tornado.web

from .router_metrics import RouterMetrics
from .router_proxy import RouterServer
from .upstream import Upstream

log = logging.getLogger("merlin.router")
TOKEN_ENV = "MERLIN_ROUTER_TOKEN"


@dataclass(frozen=True)
class Destination:
    base: str  # http://host:port of the version endpoint's model server
    model_name: str  # {model}-{version}, the name it serves under
    version: int
    endpoint_id: str

    def __post_init__(self) -> None:
        # Worked out once per rule, not per request.
        url = urllib.parse.urlsplit(self.base)
        object.__setattr__(self, "address", (url.hostname, url.port or 80))
        object.__setattr__(self, "paths", {"v1": f"/v1/models/{self.model_name}:predict",
                                           "v2": f"/v2/models/{self.model_name}/infer"})


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


class NotPosted(tornado.web.RequestHandler):
    """A prediction path asked with another method (POSTs never reach the application)."""

    def prepare(self) -> None:
        self.set_status(405)
        self.set_header("Allow", "POST")
        self.finish({"error": f"{self.request.method} is not a prediction: POST the request body to "
                              f"{self.request.path}."})


class ReloadHandler(tornado.web.RequestHandler):
    def initialize(self, table: Table, token: str):
        self.table, self.token = table, token

    def post(self) -> None:
        sent = self.request.headers.get("X-Merlin-Router-Token", "")
        if not self.token or not hmac.compare_digest(sent, self.token):
            self.set_status(403)
            return self.finish({"error": "Only the control plane may change routes."})
        try:
            self.table.load()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.set_status(400)
            return self.finish({"error": f"The rule file could not be read ({exc}); routes unchanged."})
        self.finish({"routes": len(self.table.routes), "generation": self.table.generation})


class HealthHandler(tornado.web.RequestHandler):
    def initialize(self, table: Table):
        self.table = table

    def get(self) -> None:
        self.finish({"routes": sorted(self.table.routes), "generation": self.table.generation})


class MetricsHandler(tornado.web.RequestHandler):
    def initialize(self, metrics: RouterMetrics):
        self.metrics = metrics

    def get(self) -> None:
        body, content_type = self.metrics.render()
        self.set_header("Content-Type", content_type)
        self.finish(body)


def _log_failures(handler: tornado.web.RequestHandler) -> None:
    # Not a line per answered request: that was a write per request, and a log without end.
    # The version's own request log and the metrics keep the traffic.
    if handler.get_status() >= 400:
        log.warning("%d %s %s", handler.get_status(), handler.request.method, handler.request.uri)


def make_app(table: Table, token: str, metrics: RouterMetrics) -> tornado.web.Application:
    """Every path but a POSTed prediction (those go through ``router_proxy.Relay``)."""
    return tornado.web.Application([
        (r"/-/reload", ReloadHandler, {"table": table, "token": token}),
        (r"/-/health", HealthHandler, {"table": table}),
        (r"/-/metrics", MetricsHandler, {"metrics": metrics}),
        (r"/[^/]+/[^/]+/(?:v1/predict|v2/infer)", NotPosted),
    ], log_function=_log_failures)


async def run(args: argparse.Namespace) -> None:
    table = Table(args.rules)
    table.load()
    upstream, metrics = Upstream(), RouterMetrics()
    app = make_app(table, os.environ.get(TOKEN_ENV, ""), metrics)
    server = tornado.httpserver.HTTPServer(RouterServer(app, table, upstream, metrics), xheaders=False)
    server.listen(args.port, address=args.host)
    log.info("routing model endpoints on http://%s:%s", args.host, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, table.load)
    await stop.wait()
    server.stop()
    await server.close_all_connections()
    await upstream.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m merlin_jupyter.serving.router",
                                     description="Route model endpoints to version endpoints.")
    parser.add_argument("--rules", required=True, help="the JSON rule file to serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True)
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
