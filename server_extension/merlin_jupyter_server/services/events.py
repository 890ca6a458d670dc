"""The audit trail: every change is recorded as an event (who, when, what)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..entities import Event
from ..store.db import Database
from ..store.models import EventRow


def record(
    session: Session,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: object,
    message: str,
    project_id: int | None = None,
    model_id: int | None = None,
) -> None:
    session.add(
        EventRow(
            actor=actor or "system",
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            message=message,
            project_id=project_id,
            model_id=model_id,
        )
    )


class EventService:
    def __init__(self, db: Database):
        self.db = db

    def list(
        self,
        project_id: int | None = None,
        model_id: int | None = None,
        entity_id: str | None = None,
        limit: int = 100,
        project_ids: set[int] | None = None,
    ) -> list[Event]:
        """The latest events, newest first; ``project_ids``: only those projects' (and events of
        no project, such as environments'), for a caller who is a member of just these."""
        query = select(EventRow).order_by(EventRow.id.desc()).limit(max(1, min(limit, 1000)))
        if project_id is not None:
            query = query.where(EventRow.project_id == project_id)
        if model_id is not None:
            query = query.where(EventRow.model_id == model_id)
        if entity_id is not None:
            query = query.where(EventRow.entity_id == entity_id)
        if project_ids is not None:
            query = query.where(EventRow.project_id.in_(project_ids) | EventRow.project_id.is_(None))
        with self.db.read() as session:
            return [row.to_entity() for row in session.scalars(query)]
