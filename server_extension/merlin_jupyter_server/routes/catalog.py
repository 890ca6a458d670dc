"""Environments, projects, models and versions: parse, call a service, serialize."""
from __future__ import annotations

from .base import MerlinHandler, protected, to_int


class EnvironmentsHandler(MerlinHandler):
    @protected
    async def get(self) -> None:
        environments = await self.merlin.environments_with_reachability()
        self.reply([e.to_api() for e in environments])

    @protected
    async def post(self) -> None:
        env = await self.call(self.merlin.environments.create, self.body(), self.actor)
        self.reply(env.to_api(), 201)


class ProjectsHandler(MerlinHandler):
    @protected
    async def get(self) -> None:
        projects = await self.call(self.merlin.projects.list, self.get_query_argument("name", None))
        self.reply([p.to_api() for p in projects])

    @protected
    async def post(self) -> None:
        project = await self.call(self.merlin.projects.create, self.body(), self.actor)
        self.reply(project.to_api(), 201, {"Location": self.request.path + f"/{project.id}"})


class ProjectHandler(MerlinHandler):
    @protected
    async def get(self, project_id: str) -> None:
        project = await self.call(self.merlin.projects.get, to_int(project_id, "project_id"))
        self.reply(project.to_api())

    @protected
    async def put(self, project_id: str) -> None:
        project = await self.call(
            self.merlin.projects.update, to_int(project_id, "project_id"), self.body(), self.actor
        )
        self.reply(project.to_api())


class ModelsHandler(MerlinHandler):
    @protected
    async def get(self, project_id: str) -> None:
        models = await self.call(
            self.merlin.models.list, to_int(project_id, "project_id"), self.get_query_argument("name", None)
        )
        self.reply([m.to_api() for m in models])

    @protected
    async def post(self, project_id: str) -> None:
        model = await self.call(self.merlin.models.create, to_int(project_id, "project_id"), self.body(), self.actor)
        self.reply(model.to_api(), 201, {"Location": self.request.path + f"/{model.id}"})


class ModelHandler(MerlinHandler):
    @protected
    async def get(self, project_id: str, model_id: str) -> None:
        model = await self.call(
            self.merlin.models.get, to_int(project_id, "project_id"), to_int(model_id, "model_id")
        )
        self.reply(model.to_api())

    @protected
    async def delete(self, project_id: str, model_id: str) -> None:
        model = await self.call(
            self.merlin.models.delete, to_int(project_id, "project_id"), to_int(model_id, "model_id"), self.actor
        )
        self.reply(model.to_api())


class VersionsHandler(MerlinHandler):
    @protected
    async def get(self, model_id: str) -> None:
        versions, next_cursor = await self.call(
            self.merlin.versions.list,
            to_int(model_id, "model_id"),
            self.get_query_argument("search", ""),
            self.query_int("limit", 50),
            self.query_int("cursor", None),
        )
        headers = {"Next-Cursor": str(next_cursor)} if next_cursor else {}
        self.reply([v.to_api() for v in versions], headers=headers)

    @protected
    async def post(self, model_id: str) -> None:
        version = await self.call(self.merlin.versions.create, to_int(model_id, "model_id"), self.body(), self.actor)
        self.reply(version.to_api(), 201, {"Location": self.request.path + f"/{version.id}"})


class VersionHandler(MerlinHandler):
    @protected
    async def get(self, model_id: str, version_id: str) -> None:
        version = await self.call(
            self.merlin.versions.get, to_int(model_id, "model_id"), to_int(version_id, "version_id")
        )
        self.reply(version.to_api())

    @protected
    async def patch(self, model_id: str, version_id: str) -> None:
        version = await self.call(
            self.merlin.versions.update,
            to_int(model_id, "model_id"), to_int(version_id, "version_id"), self.body(), self.actor,
        )
        self.reply(version.to_api())


class EventsHandler(MerlinHandler):
    @protected
    async def get(self) -> None:
        events = await self.call(
            self.merlin.events.list,
            self.query_int("project_id"),
            self.query_int("model_id"),
            self.get_query_argument("entity_id", None),
            self.query_int("limit", 100),
        )
        self.reply([e.to_api() for e in events])
