"""Models: each is one MLflow experiment (``{project}/{model}``) with one endpoint per environment."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..entities import ACTIVE_STATUSES, Model
from ..errors import Conflict
from ..store.db import Database
from ..store.models import ModelEndpointRow, ModelRow, VersionEndpointRow, VersionRow
from . import events, lookup, validation
from .mlflow_gateway import MlflowGateway


class ModelService:
    def __init__(self, db: Database, mlflow: MlflowGateway):
        self.db = db
        self.mlflow = mlflow

    def list(self, project_id: int, name: str | None = None) -> list[Model]:
        with self.db.read() as session:
            lookup.project(session, project_id)
            # Every model's endpoints (and their environments) in one query for the whole list.
            query = (select(ModelRow).where(ModelRow.project_id == project_id).order_by(ModelRow.id)
                     .options(selectinload(ModelRow.endpoints).selectinload(ModelEndpointRow.environment)))
            if name:
                query = query.where(ModelRow.name == name)
            return [row.to_entity(self.mlflow.ui_url) for row in session.scalars(query)]

    def get(self, project_id: int | None, model_id: int) -> Model:
        with self.db.read() as session:
            row = lookup.model(session, model_id)
            if project_id is not None and row.project_id != project_id:
                lookup.project(session, project_id)
                raise_not_in_project(model_id, project_id)
            return row.to_entity(self.mlflow.ui_url)

    def create(self, project_id: int, body: dict[str, Any], actor: str) -> Model:
        name = validation.model_name(body.get("name"))
        model_type = validation.model_type(body.get("type", "pyfunc"))
        with self.db.read() as session:
            project_name = _refuse_duplicate(session, lookup.project(session, project_id), name)
        # Outside the transaction: MLflow may take a moment and must not hold a write lock. A
        # concurrent create of the same name gets the same experiment, so the loser leaves none.
        experiment_id = self.mlflow.ensure_experiment(f"{project_name}/{name}")
        with self.db.session() as session:
            # Checked again under the project's lock: the name may have been taken meanwhile.
            _refuse_duplicate(session, lookup.project(session, project_id, for_update=True), name)
            row = ModelRow(
                project_id=project_id, name=name, type=model_type, mlflow_experiment_id=experiment_id
            )
            session.add(row)
            session.flush()
            events.record(
                session, actor, "create", "model", row.id,
                f"created {model_type} model {name} in project {project_name}", project_id, row.id,
            )
            return row.to_entity(self.mlflow.ui_url)

    def delete(self, project_id: int, model_id: int, actor: str) -> int:
        """Merlin's DeleteModel: refused while any endpoint of the model is active; its
        versions, ended endpoints and schemas go with it, its MLflow experiment (with the
        versions' runs) goes to MLflow's trash. Returns the model's id, as Merlin does."""
        with self.db.session() as session:
            row = lookup.model(session, model_id)
            if row.project_id != project_id:
                raise_not_in_project(model_id, project_id)
            active = session.scalar(
                select(VersionEndpointRow.id)
                .join(VersionRow)
                .where(
                    VersionRow.model_id == model_id,
                    VersionEndpointRow.status.in_([s.value for s in ACTIVE_STATUSES]),
                )
            )
            if active or any(me.status != "terminated" for me in row.endpoints):
                raise Conflict(
                    f"Model {row.name!r} still has active endpoints: stop serving traffic and "
                    "undeploy its versions first."
                )
            has_versions = session.scalar(select(VersionRow.id).where(VersionRow.model_id == model_id))
            experiment_id = row.mlflow_experiment_id
        if has_versions and experiment_id:
            self.mlflow.delete_experiment(experiment_id)
        with self.db.session() as session:
            row = lookup.model(session, model_id)
            name = row.name
            session.delete(row)
            events.record(session, actor, "delete", "model", model_id, f"deleted model {name}", project_id)
        return model_id


def _refuse_duplicate(session, project, name: str) -> str:
    exists = select(ModelRow.id).where(ModelRow.project_id == project.id, ModelRow.name == name)
    if session.scalar(exists):
        raise Conflict(
            f"Project {project.name!r} already has a model named {name!r}: use it "
            f"(GET /projects/{project.id}/models?name={name}) or choose another name.",
            field="name",
        )
    return project.name


def raise_not_in_project(model_id: int, project_id: int) -> None:
    from ..errors import NotFound

    raise NotFound(f"Model {model_id} is not in project {project_id}.")
