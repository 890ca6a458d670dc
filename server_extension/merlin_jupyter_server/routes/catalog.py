"""Environments, projects, models and versions: parse, call a service, serialize."""
from __future__ import annotations

from ..services.access import ADMINISTRATOR, READER
from .base import MerlinHandler, protected, to_int


class EnvironmentsHandler(MerlinHandler):
    @protected
    async def get(self) -> None:
        environments = await self.merlin.environments_with_reachability()
        self.reply([e.to_api() for e in environments])

    @protected
    async def post(self) -> None:
        self.merlin.access.environments(self.caller, "add an environment")
        env = await self.call(self.merlin.environments.create, self.body(required=True), self.actor)
        self.reply(env.to_api(), 201)


class ProjectsHandler(MerlinHandler):
    @protected
    async def get(self) -> None:
        projects = await self.call(self.merlin.projects.list, self.get_query_argument("name", None))
        self.reply([p.to_api() for p in self.merlin.access.visible(self.caller, projects)])

    @protected
    async def post(self) -> None:
        body = self.merlin.access.new_project(self.caller, self.body(required=True))
        project = await self.call(self.merlin.projects.create, body, self.actor)
        self.reply(project.to_api(), 201, {"Location": self.request.path + f"/{project.id}"})


class ProjectHandler(MerlinHandler):
    @protected
    async def get(self, project_id: str) -> None:
        await self.allow("project", to_int(project_id, "project_id"), READER, "read its settings")
        project = await self.call(self.merlin.projects.get, to_int(project_id, "project_id"))
        self.reply(project.to_api())

    @protected
    async def put(self, project_id: str) -> None:
        pid, body = to_int(project_id, "project_id"), self.body(required=True)
        await self.call(self.merlin.access.project_update, self.caller, pid, body)
        project = await self.call(self.merlin.projects.update, pid, body, self.actor)
        self.reply(project.to_api())


class ModelsHandler(MerlinHandler):
    @protected
    async def get(self, project_id: str) -> None:
        await self.allow("project", to_int(project_id, "project_id"), READER, "list models")
        models = await self.call(
            self.merlin.models.list, to_int(project_id, "project_id"), self.get_query_argument("name", None)
        )
        self.reply([m.to_api() for m in models])

    @protected
    async def post(self, project_id: str) -> None:
        await self.allow("project", to_int(project_id, "project_id"), ADMINISTRATOR, "create a model")
        model = await self.call(self.merlin.models.create, to_int(project_id, "project_id"), self.body(required=True), self.actor)
        self.reply(model.to_api(), 201, {"Location": self.request.path + f"/{model.id}"})


class ModelHandler(MerlinHandler):
    @protected
    async def get(self, project_id: str, model_id: str) -> None:
        await self.allow("project", to_int(project_id, "project_id"), READER, "read models")
        model = await self.call(
            self.merlin.models.get, to_int(project_id, "project_id"), to_int(model_id, "model_id")
        )
        self.reply(model.to_api())

    @protected
    async def delete(self, project_id: str, model_id: str) -> None:
        await self.allow("project", to_int(project_id, "project_id"), ADMINISTRATOR, "delete a model")
        deleted = await self.call(
            self.merlin.models.delete, to_int(project_id, "project_id"), to_int(model_id, "model_id"), self.actor
        )
        self.reply(deleted)  # Merlin answers with the model's id


class VersionsHandler(MerlinHandler):
    @protected
    async def get(self, model_id: str) -> None:
        await self.allow("model", to_int(model_id, "model_id"), READER, "list versions")
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
        await self.allow("model", to_int(model_id, "model_id"), ADMINISTRATOR, "create a version")
        version = await self.call(self.merlin.versions.create, to_int(model_id, "model_id"), self.body(), self.actor)
        self.reply(version.to_api(), 201, {"Location": self.request.path + f"/{version.id}"})


class VersionHandler(MerlinHandler):
    @protected
    async def get(self, model_id: str, version_id: str) -> None:
        await self.allow("model", to_int(model_id, "model_id"), READER, "read versions")
        version = await self.call(
            self.merlin.versions.get, to_int(model_id, "model_id"), to_int(version_id, "version_id")
        )
        self.reply(version.to_api())

    @protected
    async def patch(self, model_id: str, version_id: str) -> None:
        await self.allow("model", to_int(model_id, "model_id"), ADMINISTRATOR, "change a version")
        version = await self.call(
            self.merlin.versions.update,
            to_int(model_id, "model_id"), to_int(version_id, "version_id"), self.body(required=True), self.actor,
        )
        self.reply(version.to_api())

    @protected
    async def delete(self, model_id: str, version_id: str) -> None:
        await self.allow("model", to_int(model_id, "model_id"), ADMINISTRATOR, "delete a version")
        deleted = await self.call(self.merlin.versions.delete, *_version_ids(model_id, version_id), self.actor)
        self.reply(deleted)  # Merlin answers with the version's id


def _version_ids(model_id: str, version_id: str) -> tuple[int, int]:
    return to_int(model_id, "model_id"), to_int(version_id, "version_id")


class ModelSchemasHandler(MerlinHandler):
    @protected
    async def get(self, model_id: str) -> None:
        await self.allow("model", to_int(model_id, "model_id"), READER, "read model schemas")
        found = await self.call(self.merlin.schemas.list, to_int(model_id, "model_id"))
        self.reply([s.to_api() for s in found])

    @protected
    async def put(self, model_id: str) -> None:
        await self.allow("model", to_int(model_id, "model_id"), ADMINISTRATOR, "save a model schema")
        saved = await self.call(self.merlin.schemas.save, to_int(model_id, "model_id"), self.body())
        self.reply(saved.to_api())


class ModelSchemaHandler(MerlinHandler):
    @protected
    async def get(self, model_id: str, schema_id: str) -> None:
        await self.allow("model", to_int(model_id, "model_id"), READER, "read model schemas")
        found = await self.call(
            self.merlin.schemas.get, to_int(model_id, "model_id"), to_int(schema_id, "schema_id"))
        self.reply(found.to_api())

    @protected
    async def delete(self, model_id: str, schema_id: str) -> None:
        await self.allow("model", to_int(model_id, "model_id"), ADMINISTRATOR, "delete a model schema")
        await self.call(self.merlin.schemas.delete, to_int(model_id, "model_id"), to_int(schema_id, "schema_id"))
        self.set_status(204)
        self.finish()


class EventsHandler(MerlinHandler):
    @protected
    async def get(self) -> None:
        project_ids = None if self.caller.unrestricted else \
            await self.call(self.merlin.access.visible_project_ids, self.caller)
        events = await self.call(
            self.merlin.events.list,
            self.query_int("project_id"),
            self.query_int("model_id"),
            self.get_query_argument("entity_id", None),
            self.query_int("limit", 100),
            project_ids,
        )
        self.reply([e.to_api() for e in events])
