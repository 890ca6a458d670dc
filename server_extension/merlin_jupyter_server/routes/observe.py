"""Metrics over time, guarded rollouts and alerts: parse, call a service, write the result."""
from __future__ import annotations

from .base import MerlinHandler, protected, to_int


def _me(model_id: str, model_endpoint_id: str) -> tuple[int, int]:
    return to_int(model_id, "model_id"), to_int(model_endpoint_id, "model_endpoint_id")


class _Metrics(MerlinHandler):
    def window(self) -> tuple[str | None, str | None]:
        return self.get_query_argument("since", None), self.get_query_argument("step", None)


class VersionEndpointMetricsHandler(_Metrics):
    @protected
    async def get(self, model_id: str, version_id: str, endpoint_id: str) -> None:
        ids = to_int(model_id, "model_id"), to_int(version_id, "version_id")
        sources = await self.call(self.merlin.metrics.version_sources, *ids, endpoint_id)
        self.reply(await self.merlin.metrics.series(sources, *self.window()))


class ModelEndpointMetricsHandler(_Metrics):
    @protected
    async def get(self, model_id: str, model_endpoint_id: str) -> None:
        sources = await self.call(self.merlin.metrics.model_endpoint_sources, *_me(model_id, model_endpoint_id))
        self.reply(await self.merlin.metrics.series(sources, *self.window()))


class RolloutsHandler(MerlinHandler):
    @protected
    async def get(self, model_id: str, model_endpoint_id: str) -> None:
        rollouts = await self.call(self.merlin.rollouts.list, *_me(model_id, model_endpoint_id))
        self.reply([r.to_api() for r in rollouts])

    @protected
    async def post(self, model_id: str, model_endpoint_id: str) -> None:
        ids = _me(model_id, model_endpoint_id)
        rollout = await self.call(self.merlin.rollouts.create, *ids, self.body(required=True), self.actor)
        await self.merlin.rollouts.tick()  # the first step now, not at the next pass
        rollout = await self.call(self.merlin.rollouts.get, *ids, rollout.id)
        self.reply(rollout.to_api(), 201, {"Location": self.request.path + f"/{rollout.id}"})


class RolloutHandler(MerlinHandler):
    @protected
    async def get(self, model_id: str, model_endpoint_id: str, rollout_id: str) -> None:
        rollout = await self.call(self.merlin.rollouts.get, *_me(model_id, model_endpoint_id),
                                  to_int(rollout_id, "rollout_id"))
        self.reply(rollout.to_api())


class RolloutActionHandler(MerlinHandler):
    @protected
    async def post(self, model_id: str, model_endpoint_id: str, rollout_id: str, action: str) -> None:
        rollout = await self.call(self.merlin.rollouts.act, *_me(model_id, model_endpoint_id),
                                  to_int(rollout_id, "rollout_id"), action, self.actor)
        self.reply(rollout.to_api())


class AlertsHandler(MerlinHandler):
    @protected
    async def get(self, model_id: str, model_endpoint_id: str) -> None:
        alerts = await self.call(self.merlin.alerts.list, *_me(model_id, model_endpoint_id))
        self.reply([a.to_api() for a in alerts])

    @protected
    async def post(self, model_id: str, model_endpoint_id: str) -> None:
        alert = await self.call(self.merlin.alerts.create, *_me(model_id, model_endpoint_id),
                                self.body(required=True), self.actor)
        self.reply(alert.to_api(), 201, {"Location": self.request.path + f"/{alert.id}"})


class AlertHandler(MerlinHandler):
    @protected
    async def delete(self, model_id: str, model_endpoint_id: str, alert_id: str) -> None:
        await self.call(self.merlin.alerts.delete, *_me(model_id, model_endpoint_id),
                        to_int(alert_id, "alert_id"), self.actor)
        self.set_status(204)
        self.finish()


class ModelAlertsHandler(MerlinHandler):
    @protected
    async def get(self, model_id: str) -> None:
        alerts = await self.call(self.merlin.alerts.list, to_int(model_id, "model_id"))
        self.reply([a.to_api() for a in alerts])
