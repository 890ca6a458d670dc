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
from dataclasses import dataclass
from typing import Any

import aiohttp
import tornado.web

log = logging.getLogger("merlin.router")
TOKEN_ENV = "MERLIN_ROUTER_TOKEN"
MAX_MIRRORS_IN_FLIGHT = 64  # beyond this, mirror copies are dropped rather than queued
PREDICT_TIMEOUT = aiohttp.ClientTimeout(total=300)
MIRROR_TIMEOUT = aiohttp.ClientTimeout(total=30)
FORWARD_HEADERS = ("Content-Type", "Accept")


@dataclass(frozen=True)
class Destination:
    base: str  # http://host:port of the version endpoint's model server
    model_name: str  # {model}-{version}, the name it serves under
    version: int
    endpoint_id: str

    def url(self, protocol: str) -> str:
        if protocol == "v2":
            return f"{self.base}/v2/models/{self.model_name}/infer"
        return f"{self.base}/v1/models/{self.model_name}:predict"


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


class RouterHandler(tornado.web.RequestHandler):
    def initialize(self, table: Table, client: Upstream, mirrors: set):
        self.table, self.client, self.mirrors = table, client, mirrors

    def answer_error(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": message}))

    async def post(self, project: str, model: str, protocol: str) -> None:
        route = self.table.routes.get(f"{project}/{model}")
        if route is None:
            return self.answer_error(
                404, f"No model endpoint serves {project}/{model} here: route traffic to one of its "
                     "version endpoints first (serve_traffic or %merlin traffic).")
        destination = route.pick()
        if route.mirror is not None:
            self._mirror(route.mirror, protocol)
        headers = {k: self.request.headers[k] for k in FORWARD_HEADERS if k in self.request.headers}
        try:
            status, reason, content_type, body = await self.client.forward(
                destination.url(protocol), self.request.body, headers)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return self._unreachable(project, model, destination, str(exc) or type(exc).__name__)
        self.set_status(status, reason)
        self.set_header("Content-Type", content_type)
        self.set_header("X-Merlin-Version", str(destination.version))
        self.set_header("X-Merlin-Version-Endpoint", destination.endpoint_id)
        self.finish(body)

    def _unreachable(self, project: str, model: str, destination: Destination, why: str) -> None:
        self.set_header("X-Merlin-Version", str(destination.version))
        self.answer_error(502, f"Version {destination.version} of {project}/{model} did not answer "
                               f"({why}): check that endpoint's status and logs.")

    def _mirror(self, destination: Destination, protocol: str) -> None:
        if len(self.mirrors) >= MAX_MIRRORS_IN_FLIGHT:
            return  # a slow mirror must not pile up memory; dropping copies is the mirror's deal
        task = asyncio.ensure_future(self.client.mirror(
            destination.url(protocol), self.request.body,
            {"Content-Type": self.request.headers.get("Content-Type", "application/json")}))
        self.mirrors.add(task)
        task.add_done_callback(_forget(self.mirrors))


def _forget(mirrors: set):
    def done(task: asyncio.Future) -> None:
        mirrors.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("mirror request failed: %s", task.exception())
    return done


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


class Upstream:
    """Keep-alive connections to the version endpoints, made on first use (inside the loop).

    A new TCP connection per proxied request costs the router and the model server more than the
    rest of the hop; aiohttp pools them (it is already installed for MLflow and kubernetes)."""

    def __init__(self) -> None:
        self._pooled: aiohttp.ClientSession | None = None
        self._fresh: aiohttp.ClientSession | None = None

    def _sessions(self) -> tuple[aiohttp.ClientSession, aiohttp.ClientSession]:
        if self._pooled is None:
            options = {"auto_decompress": False, "skip_auto_headers": ("User-Agent", "Accept-Encoding")}
            self._pooled = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1024, limit_per_host=256), **options)
            self._fresh = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True), **options)
        return self._pooled, self._fresh

    async def forward(self, url: str, body: bytes, headers: dict) -> tuple[int, str, str, bytes]:
        """POST and return (status, reason, content type, body).

        A pooled connection can be closed by the server just as a request goes out on it (a
        redeployed revision exits), before the request was read: it is sent once more, on a new
        connection, instead of failing. (A server that dies while answering gets that second try
        too; a prediction is a read.) A destination that refuses connections fails both tries."""
        pooled, fresh = self._sessions()
        try:
            return await self._post(pooled, url, body, headers)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            return await self._post(fresh, url, body, headers)

    @staticmethod
    async def _post(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict):
        async with session.post(url, data=body, headers=headers, timeout=PREDICT_TIMEOUT) as response:
            content = await response.read()
            return (response.status, response.reason or "", response.headers.get("Content-Type", "application/json"),
                    content)

    async def mirror(self, url: str, body: bytes, headers: dict) -> None:
        async with self._sessions()[0].post(url, data=body, headers=headers, timeout=MIRROR_TIMEOUT) as response:
            await response.read()

    async def close(self) -> None:
        for session in (self._pooled, self._fresh):
            if session is not None:
                await session.close()


def make_app(table: Table, token: str, client: Upstream | None = None) -> tornado.web.Application:
    client = client or Upstream()
    mirrors: set = set()
    return tornado.web.Application([
        (r"/-/reload", ReloadHandler, {"table": table, "token": token}),
        (r"/-/health", HealthHandler, {"table": table}),
        (r"/([^/]+)/([^/]+)/(v1)/predict", RouterHandler,
         {"table": table, "client": client, "mirrors": mirrors}),
        (r"/([^/]+)/([^/]+)/(v2)/infer", RouterHandler,
         {"table": table, "client": client, "mirrors": mirrors}),
    ])


async def run(args: argparse.Namespace) -> None:
    table = Table(args.rules)
    table.load()
    upstream = Upstream()
    app = make_app(table, os.environ.get(TOKEN_ENV, ""), upstream)
    server = app.listen(args.port, address=args.host, xheaders=False)
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
