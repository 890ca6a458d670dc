"""Version endpoints (deploy, redeploy, undeploy, logs) and model endpoints (traffic rules)."""
from __future__ import annotations

import asyncio

from tornado.iostream import StreamClosedError

from ..services.access import ADMINISTRATOR, READER
from .base import MerlinHandler, protected, to_int


def _ids(model_id: str, version_id: str) -> tuple[int, int]:
    return to_int(model_id, "model_id"), to_int(version_id, "version_id")


class VersionEndpointsHandler(MerlinHandler):
    @protected
    async def get(self, model_id: str, version_id: str) -> None:
        await self.allow("model", to_int(model_id, "model_id"), READER, "list version endpoints")
        endpoints = await self.call(self.merlin.endpoints.list, *_ids(model_id, version_id))
        self.reply([e.to_api() for e in endpoints])

    @protected
    async def post(self, model_id: str, version_id: str) -> None:
        await self.allow("model", to_int(model_id, "model_id"), ADMINISTRATOR, "deploy a version")
        body = self.body()
        if self.query_bool("dry_run"):
            manifests = await self.merlin.render_deploy(*_ids(model_id, version_id), body)
            self.reply({"dry_run": True, "manifests": manifests})
            return
        endpoint = await self.call(self.merlin.endpoints.create, *_ids(model_id, version_id), body, self.actor)
        self.merlin.reconciler.kick()
        self.reply(endpoint.to_api(), 201, {"Location": self.request.path + f"/{endpoint.id}"})


# Merlin's own SDK sleeps 5 s after every poll that finds its new endpoint pending, though a
# local endpoint is ready in about a second: for that client only, a GET of a pending endpoint
# waits this long for it to move on before answering.
MERLIN_SDK_AGENT = "merlin-sdk/"
MERLIN_SDK_PENDING_WAIT = 4.0


class VersionEndpointHandler(MerlinHandler):
    @protected
    async def get(self, model_id: str, version_id: str, endpoint_id: str) -> None:
        ids = _ids(model_id, version_id)
        await self.allow("model", ids[0], READER, "read version endpoints")
        endpoint = await self.call(self.merlin.endpoints.get, *ids, endpoint_id)
        if endpoint.status.value == "pending" and \
                self.request.headers.get("User-Agent", "").startswith(MERLIN_SDK_AGENT):
            endpoint = await self.merlin.wait_for_endpoint(
                *ids, endpoint_id, lambda e: e.status.value != "pending", MERLIN_SDK_PENDING_WAIT)
        self.reply(endpoint.to_api())

    @protected
    async def put(self, model_id: str, version_id: str, endpoint_id: str) -> None:
        await self.allow("model", to_int(model_id, "model_id"), ADMINISTRATOR, "redeploy an endpoint")
        endpoint = await self.call(
            self.merlin.endpoints.redeploy, *_ids(model_id, version_id), endpoint_id, self.body(), self.actor
        )
        self.merlin.reconciler.kick()
        self.reply(endpoint.to_api())

    @protected
    async def delete(self, model_id: str, version_id: str, endpoint_id: str) -> None:
        ids = _ids(model_id, version_id)
        await self.allow("model", ids[0], ADMINISTRATOR, "undeploy an endpoint")
        await self.call(self.merlin.endpoints.request_undeploy, *ids, endpoint_id, self.actor)
        endpoint = await self.merlin.wait_for_endpoint(
            *ids, endpoint_id, lambda e: e.status.value == "terminated", self.merlin.undeploy_wait
        )
        self.reply(endpoint.to_api(), 200 if endpoint.status.value == "terminated" else 202)


class VersionEndpointLogsHandler(MerlinHandler):
    @protected
    async def get(self, model_id: str, version_id: str, endpoint_id: str) -> None:
        ids = _ids(model_id, version_id)
        await self.allow("model", ids[0], READER, "read endpoint logs")
        tail = min(self.query_int("tail", 100, minimum=0) or 0, 10000)
        if not self.query_bool("follow"):
            lines = await self.merlin.endpoint_logs(*ids, endpoint_id, tail)
            self.reply({"logs": lines})
            return
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        self._merlin_follow_task = asyncio.ensure_future(self._follow(ids, endpoint_id, tail))
        try:
            await self._merlin_follow_task
        except (StreamClosedError, asyncio.CancelledError):
            return
        self.finish()

    async def _follow(self, ids: tuple[int, int], endpoint_id: str, tail: int) -> None:
        async for line in self.merlin.follow_endpoint_logs(*ids, endpoint_id, tail):
            self.write(line + "\n")
            await self.flush()

    def on_connection_close(self) -> None:
        # The client stopped following: end the generator instead of tailing forever.
        task = getattr(self, "_merlin_follow_task", None)
        if task is not None:
            task.cancel()


class ModelEndpointsHandler(MerlinHandler):
    @protected
    async def get(self, model_id: str) -> None:
        await self.allow("model", to_int(model_id, "model_id"), READER, "list model endpoints")
        endpoints = await self.call(self.merlin.model_endpoints.list, to_int(model_id, "model_id"))
        self.reply([e.to_api() for e in endpoints])

    @protected
    async def post(self, model_id: str) -> None:
        mid = to_int(model_id, "model_id")
        await self.allow("model", mid, ADMINISTRATOR, "route traffic")
        created = await self.call(self.merlin.model_endpoints.create, mid, self.body(required=True), self.actor)
        endpoint = await self.merlin.wait_for_route(mid, created.id)
        self.reply(endpoint.to_api(), 201, {"Location": self.request.path + f"/{endpoint.id}"})


class ModelEndpointHandler(MerlinHandler):
    @protected
    async def get(self, model_id: str, model_endpoint_id: str) -> None:
        await self.allow("model", to_int(model_id, "model_id"), READER, "read model endpoints")
        endpoint = await self.call(
            self.merlin.model_endpoints.get, to_int(model_id, "model_id"), to_int(model_endpoint_id, "model_endpoint_id")
        )
        self.reply(endpoint.to_api())

    @protected
    async def put(self, model_id: str, model_endpoint_id: str) -> None:
        mid, meid = to_int(model_id, "model_id"), to_int(model_endpoint_id, "model_endpoint_id")
        await self.allow("model", mid, ADMINISTRATOR, "route traffic")
        await self.call(self.merlin.model_endpoints.update, mid, meid, self.body(required=True), self.actor)
        self.reply((await self.merlin.wait_for_route(mid, meid)).to_api())

    @protected
    async def delete(self, model_id: str, model_endpoint_id: str) -> None:
        mid, meid = to_int(model_id, "model_id"), to_int(model_endpoint_id, "model_endpoint_id")
        await self.allow("model", mid, ADMINISTRATOR, "stop serving traffic")
        await self.call(self.merlin.model_endpoints.request_delete, mid, meid, self.actor)
        self.reply((await self.merlin.wait_for_route(mid, meid)).to_api())
