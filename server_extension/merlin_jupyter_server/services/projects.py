"""Projects: namespaces for models (a Kubernetes namespace on a cluster)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

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
        with self.db.read() as session:
            return [self._entity(row) for row in session.scalars(query)]

    def get(self, project_id: int) -> Project:
        with self.db.read() as session:
            return self._entity(lookup.project(session, project_id))

    def create(self, body: dict[str, Any], actor: str) -> Project:
        name = validation.project_name(body.get("name"))
        taken = Conflict(
            f"A project named {name!r} already exists: use it "
            f"(GET /projects?name={name}) or choose another name.",
            field="name",
        )
        with self.db.session() as session:
            if session.scalar(select(ProjectRow.id).where(ProjectRow.name == name)):
                raise taken
            row = ProjectRow(name=name, **_editable(body))
            session.add(row)
            try:
                session.flush()
            except IntegrityError:  # PostgreSQL: a concurrent create won (the name is unique)
                raise taken from None
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
        if body.get(key) is not None:
            out[key] = validation.string_list(body[key], key)
    for key in ("team", "stream"):
        if body.get(key) is not None:
            out[key] = validation.text(body[key], key, 63)
    if body.get("mlflow_tracking_url") is not None:
        out["mlflow_tracking_url"] = validation.text(body["mlflow_tracking_url"], "mlflow_tracking_url", 2048)
    if body.get("labels") is not None:
        out["labels"] = validation.label_list(body["labels"])
    return out
