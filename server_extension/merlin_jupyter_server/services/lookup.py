"""Finding rows by the ids the API uses; a missing one is a NotFound that says what to do.

``for_update=True`` locks the row until the transaction ends (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite renders no lock and needs none, its write transactions are serialized whole):
the parent row a create locks, so concurrent creates under one parent take turns.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import NotFound
from ..store.models import (
    EnvironmentRow,
    ModelEndpointRow,
    ModelRow,
    ProjectRow,
    VersionEndpointRow,
    VersionRow,
)


def project(session: Session, project_id: int, for_update: bool = False) -> ProjectRow:
    row = session.get(ProjectRow, project_id, with_for_update=for_update or None)
    if row is None:
        raise NotFound(f"Project {project_id} does not exist: list projects with GET /projects.")
    return row


def model(session: Session, model_id: int, for_update: bool = False) -> ModelRow:
    row = session.get(ModelRow, model_id, with_for_update=for_update or None)
    if row is None:
        raise NotFound(
            f"Model {model_id} does not exist: list a project's models with "
            "GET /projects/{project_id}/models."
        )
    return row


def version(session: Session, model_id: int, number: int, for_update: bool = False) -> VersionRow:
    model(session, model_id)
    query = select(VersionRow).where(VersionRow.model_id == model_id, VersionRow.number == number)
    row = session.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise NotFound(
            f"Model {model_id} has no version {number}: list its versions with "
            f"GET /models/{model_id}/versions."
        )
    return row


def version_endpoint(
    session: Session, model_id: int, number: int, endpoint_id: str, for_update: bool = False
) -> VersionEndpointRow:
    """``for_update`` locks the endpoint and its version (revisions are counted per version)."""
    ver = version(session, model_id, number, for_update)
    row = session.get(VersionEndpointRow, str(endpoint_id), with_for_update=for_update or None)
    if row is None or row.version_pk != ver.id:
        raise NotFound(
            f"Version {number} of model {model_id} has no endpoint {endpoint_id}: list them with "
            f"GET /models/{model_id}/versions/{number}/endpoint."
        )
    return row


def model_endpoint(session: Session, model_id: int, model_endpoint_id: int) -> ModelEndpointRow:
    model(session, model_id)
    row = session.get(ModelEndpointRow, model_endpoint_id)
    if row is None or row.model_id != model_id:
        raise NotFound(
            f"Model {model_id} has no model endpoint {model_endpoint_id}: list them with "
            f"GET /models/{model_id}/endpoints."
        )
    return row


def environment(session: Session, name: str) -> EnvironmentRow:
    row = session.scalar(select(EnvironmentRow).where(EnvironmentRow.name == name))
    if row is None:
        names = ", ".join(session.scalars(select(EnvironmentRow.name)))
        raise NotFound(
            f"Environment {name!r} does not exist: choose one of {names} "
            "(or configure it in MerlinApp.environments).",
            field="environment_name",
        )
    return row


def default_environment(session: Session) -> EnvironmentRow:
    row = session.scalar(select(EnvironmentRow).where(EnvironmentRow.is_default.is_(True)))
    return row or environment(session, "local")
