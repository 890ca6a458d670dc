"""Versions: one MLflow run each, numbered 1, 2, ... per model; immutable once deployed."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from ..entities import ACTIVE_STATUSES, Version
from ..errors import Conflict, InvalidInput
from ..store.db import Database
from ..store.models import VersionEndpointRow, VersionRow
from . import events, lookup, schemas, validation
from .mlflow_gateway import MlflowGateway

MUTABLE_BEFORE_DEPLOY = ("python_version", "properties")
# What a listed version shows, loaded for the whole page at once (never one query per version).
PAGE_LOADS = (
    joinedload(VersionRow.model),
    selectinload(VersionRow.model_schema),
    selectinload(VersionRow.endpoints).selectinload(VersionEndpointRow.environment),
)
SEARCH_BATCH = 200  # rows read per query while a search fills its page


class VersionService:
    def __init__(self, db: Database, mlflow: MlflowGateway):
        self.db = db
        self.mlflow = mlflow

    def list(
        self, model_id: int, search: str = "", limit: int = 50, cursor: int | None = None
    ) -> tuple[list[Version], int | None]:
        """Newest first; returns the page and the cursor of the next page (None at the end).

        The page is read in SQL (``number < cursor``, newest first, ``limit + 1`` rows, on the
        (model_id, number) unique index) with its relationships in one query each, so a page
        costs the same for a model with 10,000 versions as for one with 10. A search (labels,
        run id, environment: Merlin's syntax, matched in Python) reads batches of the same
        query until the page is full.
        """
        limit = max(1, min(int(limit), 500))
        with self.db.read() as session:
            lookup.model(session, model_id)
            query = (select(VersionRow).where(VersionRow.model_id == model_id)
                     .order_by(VersionRow.number.desc()).options(*PAGE_LOADS))
            rows: list[VersionRow] = []
            after = cursor
            while True:
                batch_size = limit + 1 if not search else max(SEARCH_BATCH, limit + 1)
                batch_query = query.where(VersionRow.number < after) if after else query
                batch = list(session.scalars(batch_query.limit(batch_size)))
                rows += [r for r in batch if _matches(r, search)]
                if not search or len(rows) > limit or len(batch) < batch_size:
                    break
                after = batch[-1].number
            page = rows[:limit]
            next_cursor = page[-1].number if len(rows) > limit else None
            return [r.to_entity(self.mlflow.ui_url) for r in page], next_cursor

    def get(self, model_id: int, number: int) -> Version:
        with self.db.read() as session:
            return lookup.version(session, model_id, number).to_entity(self.mlflow.ui_url)

    def create(self, model_id: int, body: dict[str, Any], actor: str) -> Version:
        labels = validation.labels(body.get("labels"))
        # The run (and so where the model is read from) is always the one created here.
        validation.control_plane_owned(body, ("mlflow_run_id", "artifact_uri"))
        python_version = validation.python_version(body.get("python_version"))
        properties = _properties(body.get("properties"))
        if body.get("model_schema") is not None:
            schemas.check(body["model_schema"])  # before the MLflow run is created for it
        with self.db.session() as session:
            model = lookup.model(session, model_id)
            experiment_id, model_name, project_id = model.mlflow_experiment_id, model.name, model.project_id
        # Named once the version's number is known (taken in the transaction below).
        run_id, artifact_uri = self.mlflow.create_run(experiment_id, f"{model_name}-next")
        with self.db.session() as session:
            # The counter is read under the model's lock (SQLite: the write lock taken at BEGIN),
            # so two creates never share a number.
            lookup.model(session, model_id, for_update=True)
            number = (session.scalar(
                select(func.max(VersionRow.number)).where(VersionRow.model_id == model_id)
            ) or 0) + 1
            row = VersionRow(
                model_id=model_id,
                number=number,
                mlflow_run_id=run_id,
                artifact_uri=artifact_uri,
                labels=labels,
                python_version=python_version,
                properties=properties,
            )
            if body.get("model_schema") is not None:
                row.model_schema = schemas.save(session, model_id, body["model_schema"])
            session.add(row)
            session.flush()
            events.record(
                session, actor, "create", "version", f"{model_id}/{number}",
                f"created version {number} of model {model_name} (MLflow run {run_id})",
                project_id, model_id,
            )
            session.refresh(row)
            version = row.to_entity(self.mlflow.ui_url)
        self.mlflow.rename_run(run_id, f"{model_name}-v{number}")
        return version

    def update(self, model_id: int, number: int, body: dict[str, Any], actor: str) -> Version:
        with self.db.session() as session:
            row = lookup.version(session, model_id, number)
            changed = []
            if "labels" in body:
                row.labels = validation.labels(body["labels"])
                changed.append("labels")
            if body.get("model_schema") is not None:  # Merlin's VersionPatch: any time
                row.model_schema = schemas.save(session, model_id, body["model_schema"])
                changed.append("model_schema")
            cleaned = {"python_version": validation.python_version, "properties": _properties}
            for key in MUTABLE_BEFORE_DEPLOY:
                if key in body and cleaned[key](body[key]) != getattr(row, key):
                    if row.endpoints:
                        raise Conflict(
                            f"Version {number} has been deployed, so only its labels can change: "
                            "log a new version instead.",
                            field=key,
                        )
                    setattr(row, key, cleaned[key](body[key]))
                    changed.append(key)
            current = row.to_entity(self.mlflow.ui_url).to_api()
            echoed = {k for k in _IGNORED if k in body and body[k] == current.get(k)}
            unknown = set(body) - {"labels", "model_schema", *MUTABLE_BEFORE_DEPLOY} - echoed - _IGNORED_ALWAYS
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

    def delete(self, model_id: int, number: int, actor: str) -> int:
        """Merlin's DeleteVersion: refused while an endpoint of the version is active; its
        ended endpoints go with it, its MLflow run goes to MLflow's trash."""
        with self.db.session() as session:
            row = lookup.version(session, model_id, number)
            active = [e for e in row.endpoints if e.status in _ACTIVE]
            if active:
                where = ", ".join(sorted({f"{e.environment_name} ({e.status})" for e in active}))
                raise Conflict(
                    f"Version {number} of {row.model.name!r} still has an active endpoint in "
                    f"{where}: undeploy it (DELETE its endpoint) first, then delete the version.")
            run_id = row.mlflow_run_id
        if run_id:
            self.mlflow.delete_run(run_id)
        with self.db.session() as session:
            row = lookup.version(session, model_id, number)
            session.delete(row)
            events.record(
                session, actor, "delete", "version", f"{model_id}/{number}",
                f"deleted version {number} of model {row.model.name} (MLflow run {run_id} moved "
                "to MLflow's trash)", row.model.project_id, model_id,
            )
        return number


_ACTIVE = {s.value for s in ACTIVE_STATUSES}

# Fields clients echo back unchanged (a PATCH of the whole object); ignored when equal.
_IGNORED = {"id", "model_id", "mlflow_run_id", "mlflow_url", "artifact_uri"}
# Derived or nested fields a client may send back in any form; never changed by a PATCH.
_IGNORED_ALWAYS = {"endpoints", "created_at", "updated_at", "custom_predictor", "model"}


def _properties(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("properties must be an object.", field="properties")
    return value


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
