"""The request logs of version endpoints and model endpoints (``.../requests?since=&status=&limit=``)."""
from __future__ import annotations

from .base import MerlinHandler, protected, to_int

QUERY = ("since", "status", "limit")


class RequestsHandler(MerlinHandler):
    def query(self) -> dict[str, str | None]:
        return {name: self.query_text(name) for name in QUERY}


class VersionEndpointRequestsHandler(RequestsHandler):
    @protected
    async def get(self, model_id: str, version_id: str, endpoint_id: str) -> None:
        rows = await self.call(self.merlin.request_logs.for_version_endpoint, to_int(model_id, "model_id"),
                               to_int(version_id, "version_id"), endpoint_id, self.query())
        self.reply({"requests": rows})


class ModelEndpointRequestsHandler(RequestsHandler):
    @protected
    async def get(self, model_id: str, model_endpoint_id: str) -> None:
        rows = await self.call(self.merlin.request_logs.for_model_endpoint, to_int(model_id, "model_id"),
                               to_int(model_endpoint_id, "model_endpoint_id"), self.query())
        self.reply({"requests": rows})
