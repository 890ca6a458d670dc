"""Versions: one MLflow run each, numbered 1, 2, ... per model; immutable once deployed."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ..entities import Version
from ..errors import Conflict, InvalidInput
from ..store.db import Database
from ..store.models import VersionRow
from . import events, lookup, validation
from .mlflow_gateway import MlflowGateway

MUTABLE_BEFORE_DEPLOY = ("python_version", "properties")


class VersionService:
    def __init__(self, db: Database, mlflow: MlflowGateway):
        self.db = db
        self.mlflow = mlflow

    def list(
        self, model_id: int, search: str = "", limit: int = 50, cursor: int | None = None
    ) -> tuple[list[Version], int | None]:
        """Newest first; returns the page and the cursor of the next page (None at the end)."""
        limit = max(1, min(int(limit), 500))
        with self.db.session() as session:
            lookup.model(session, model_id)
            query = select(VersionRow).where(VersionRow.model_id == model_id)
            if cursor:
                query = query.where(VersionRow.number < cursor)
            rows = list(session.scalars(query.order_by(VersionRow.number.desc())))
            rows = [r for r in rows if _matches(r, search)]
            page = rows[:limit]
            next_cursor = page[-1].number if len(rows) > limit else None
            return [r.to_entity(self.mlflow.ui_url) for r in page], next_cursor

    def get(self, model_id: int, number: int) -> Version:
        with self.db.session() as session:
            return lookup.version(session, model_id, number).to_entity(self.mlflow.ui_url)

    def create(self, model_id: int, body: dict[str, Any], actor: str) -> Version:
        labels = validation.labels(body.get("labels"))
        with self.db.session() as session:
            model = lookup.model(session, model_id)
            experiment_id, model_name, project_id = model.mlflow_experiment_id, model.name, model.project_id
            project_name = model.project.name
        run_id = str(body.get("mlflow_run_id") or "")
        artifact_uri = str(body.get("artifact_uri") or "")
        created_run = not run_id
        if created_run:
            # Named once the version's number is known (taken in the transaction below).
            run_id, artifact_uri = self.mlflow.create_run(
                experiment_id, f"{model_name}-next", {"merlin.project": project_name, "merlin.model": model_name}
            )
        with self.db.session() as session:
            # The counter is taken inside the write transaction, so two creates never share one.
            number = (session.scalar(
                select(func.max(VersionRow.number)).where(VersionRow.model_id == model_id)
            ) or 0) + 1
            row = VersionRow(
                model_id=model_id,
                number=number,
                mlflow_run_id=run_id,
                artifact_uri=artifact_uri,
                labels=labels,
                python_version=str(body.get("python_version") or ""),
                properties=body.get("properties") if isinstance(body.get("properties"), dict) else {},
            )
            session.add(row)
            session.flush()
            events.record(
                session, actor, "create", "version", f"{model_id}/{number}",
                f"created version {number} of model {model_name} (MLflow run {run_id})",
                project_id, model_id,
            )
            session.refresh(row)
            version = row.to_entity(self.mlflow.ui_url)
        if created_run:
            self.mlflow.rename_run(run_id, f"{model_name}-v{number}")
        return version

    def update(self, model_id: int, number: int, body: dict[str, Any], actor: str) -> Version:
        with self.db.session() as session:
            row = lookup.version(session, model_id, number)
            changed = []
            if "labels" in body:
                row.labels = validation.labels(body["labels"])
                changed.append("labels")
            for key in MUTABLE_BEFORE_DEPLOY:
                if key in body and body[key] != getattr(row, key):
                    if row.endpoints:
                        raise Conflict(
                            f"Version {number} has been deployed, so only its labels can change: "
                            "log a new version instead.",
                            field=key,
                        )
                    setattr(row, key, body[key])
                    changed.append(key)
            current = row.to_entity(self.mlflow.ui_url).to_api()
            echoed = {k for k in _IGNORED if k in body and body[k] == current.get(k)}
            unknown = set(body) - {"labels", *MUTABLE_BEFORE_DEPLOY} - echoed - _IGNORED_ALWAYS
            if unknown:
                raise InvalidInput(
                    f"Cannot change {', '.join(sorted(unknown))} of a version: only labels "
                    "(and, before the first deploy, python_version and properties).",
                    field=sorted(unknown)[0],
                )
            session.flush()
            events.record(
                session, actor, "update", "version", f"{model_id}/{number}",
                f"updated {', '.join(changed) or 'nothing'} of version {number}",
                row.model.project_id, model_id,
            )
            return row.to_entity(self.mlflow.ui_url)


# Fields clients echo back unchanged (a PATCH of the whole object); ignored when equal.
_IGNORED = {"id", "model_id", "mlflow_run_id", "mlflow_url", "artifact_uri"}
# Derived or nested fields a client may send back in any form; never changed by a PATCH.
_IGNORED_ALWAYS = {"endpoints", "created_at", "updated_at", "custom_predictor", "model"}


def _matches(row: VersionRow, search: str) -> bool:
    """Merlin-style search: free text, or ``key:value`` / ``key=value`` on labels."""
    search = (search or "").strip()
    if not search:
        return True
    for term in search.split():
        for sep in (":", "="):
            if sep in term:
                key, value = term.split(sep, 1)
                if key == "environment_name":
                    if not any(e.environment_name == value for e in row.endpoints):
                        return False
                elif str((row.labels or {}).get(key)) != value:
                    return False
                break
        else:
            haystack = " ".join([row.mlflow_run_id, *map(str, (row.labels or {}).values()), str(row.number)])
            if term not in haystack:
                return False
    return True
