"""Projects: namespaces for models (a Kubernetes namespace on a cluster)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..entities import Project
from ..errors import Conflict, InvalidInput
from ..store.db import Database
from ..store.models import ProjectRow
from . import events, lookup, validation


class ProjectService:
    def __init__(self, db: Database, tracking_uri: str):
        self.db = db
        self.tracking_uri = tracking_uri

    def _entity(self, row: ProjectRow) -> Project:
        project = row.to_entity()
        project.mlflow_tracking_url = row.mlflow_tracking_url or self.tracking_uri
        return project

    def list(self, name: str | None = None) -> list[Project]:
        query = select(ProjectRow).order_by(ProjectRow.id)
        if name:
            query = query.where(ProjectRow.name == name)
        with self.db.session() as session:
            return [self._entity(row) for row in session.scalars(query)]

    def get(self, project_id: int) -> Project:
        with self.db.session() as session:
            return self._entity(lookup.project(session, project_id))

    def create(self, body: dict[str, Any], actor: str) -> Project:
        name = validation.project_name(body.get("name"))
        with self.db.session() as session:
            if session.scalar(select(ProjectRow.id).where(ProjectRow.name == name)):
                raise Conflict(
                    f"A project named {name!r} already exists: use it "
                    f"(GET /projects?name={name}) or choose another name.",
                    field="name",
                )
            row = ProjectRow(name=name, **_editable(body))
            session.add(row)
            session.flush()
            events.record(session, actor, "create", "project", row.id, f"created project {name}", row.id)
            return self._entity(row)

    def update(self, project_id: int, body: dict[str, Any], actor: str) -> Project:
        with self.db.session() as session:
            row = lookup.project(session, project_id)
            if body.get("name") not in (None, row.name):
                raise InvalidInput(
                    "A project cannot be renamed (its name is its namespace): create a new one.",
                    field="name",
                )
            for key, value in _editable(body).items():
                setattr(row, key, value)
            session.flush()
            events.record(session, actor, "update", "project", row.id, f"updated project {row.name}", row.id)
            return self._entity(row)


def _editable(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("administrators", "readers"):
        if key in body and body[key] is not None:
            if not isinstance(body[key], list):
                raise InvalidInput(f"{key} must be a list of user names.", field=key)
            out[key] = [str(v) for v in body[key]]
    for key in ("team", "stream", "mlflow_tracking_url"):
        if body.get(key) is not None:
            out[key] = str(body[key])
    if body.get("labels") is not None:
        labels = body["labels"]
        if not isinstance(labels, list) or not all(
            isinstance(x, dict) and "key" in x for x in labels
        ):
            raise InvalidInput("labels must be a list of {key, value}.", field="labels")
        out["labels"] = [{"key": str(x["key"]), "value": str(x.get("value", ""))} for x in labels]
    return out
