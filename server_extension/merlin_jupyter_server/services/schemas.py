"""Model schemas, as Merlin keeps them: per model, upserted by id, referenced by versions.

A schema's ``spec`` is Merlin's InferenceSchema (feature types, what the prediction is); it is
kept as the client sent it, after the checks Merlin's API makes when it decodes one.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..entities import ModelSchema
from ..errors import Conflict, InvalidInput, NotFound
from ..store.db import Database
from ..store.models import ModelSchemaRow
from . import lookup

VALUE_TYPES = ("float64", "int64", "boolean", "string")
OUTPUT_CLASSES = ("BinaryClassificationOutput", "RegressionOutput", "RankingOutput")


class ModelSchemaService:
    def __init__(self, db: Database):
        self.db = db

    def list(self, model_id: int) -> list[ModelSchema]:
        with self.db.read() as session:
            lookup.model(session, model_id)
            rows = session.scalars(
                select(ModelSchemaRow).where(ModelSchemaRow.model_id == model_id).order_by(ModelSchemaRow.id)
            )
            return [r.to_entity() for r in rows]

    def get(self, model_id: int, schema_id: int) -> ModelSchema:
        with self.db.read() as session:
            return _row(session, model_id, schema_id).to_entity()

    def save(self, model_id: int, body: Any) -> ModelSchema:
        with self.db.session() as session:
            lookup.model(session, model_id)
            return save(session, model_id, body).to_entity()

    def delete(self, model_id: int, schema_id: int) -> None:
        with self.db.session() as session:
            session.delete(_row(session, model_id, schema_id))


def save(session: Session, model_id: int, body: Any) -> ModelSchemaRow:
    """Create the schema, or update the one of ``body["id"]`` if this model has it (Merlin's
    upsert: an id that does not exist creates a new schema)."""
    spec = check(body)
    given_model = body.get("model_id")
    if given_model not in (None, 0) and given_model != model_id:
        # Well-formed, but about another model: a conflict between the body and the path.
        raise Conflict(
            f"The schema names model {given_model} but is sent for model {model_id}: drop "
            "model_id or send it to that model.", field="model_id")
    row = None
    if isinstance(body.get("id"), int) and body["id"] > 0:
        row = session.scalar(select(ModelSchemaRow).where(
            ModelSchemaRow.id == body["id"], ModelSchemaRow.model_id == model_id))
    if row is None:
        row = ModelSchemaRow(model_id=model_id, spec=spec)
        session.add(row)
    else:
        row.spec = spec
    session.flush()
    return row


def check(body: Any) -> dict[str, Any] | None:
    """The schema's spec, once it passed the checks (before anything is created for it)."""
    if not isinstance(body, dict):
        raise InvalidInput("A model schema is an object: {\"spec\": {...}}.", field="model_schema")
    for key in ("id", "model_id"):
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidInput(f"A model schema's {key} is a whole number (or left out), not "
                               f"{value!r}.", field=key)
    return _spec(body.get("spec"))


def _row(session: Session, model_id: int, schema_id: int) -> ModelSchemaRow:
    lookup.model(session, model_id)
    row = session.scalar(select(ModelSchemaRow).where(
        ModelSchemaRow.id == schema_id, ModelSchemaRow.model_id == model_id))
    if row is None:
        raise NotFound(f"Model {model_id} has no schema {schema_id}: list them with "
                       f"GET /models/{model_id}/schemas.")
    return row


def _spec(spec: Any) -> dict[str, Any] | None:
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise InvalidInput("A model schema's spec is an object (Merlin's InferenceSchema).",
                           field="spec")
    types = {} if spec.get("feature_types") is None else spec["feature_types"]
    if not isinstance(types, dict):
        raise InvalidInput("spec.feature_types maps each feature name to its type.",
                           field="spec.feature_types")
    for name, value_type in types.items():
        if value_type not in VALUE_TYPES:
            raise InvalidInput(
                f"Feature {name!r} has type {value_type!r}: use one of {', '.join(VALUE_TYPES)}.",
                field="spec.feature_types")
    for key in ("feature_orders", "tag_columns"):
        names = spec.get(key)
        if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise InvalidInput(f"spec.{key} is a list of column names.", field=f"spec.{key}")
    for key in ("session_id_column", "row_id_column"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise InvalidInput(f"spec.{key} is a column name.", field=f"spec.{key}")
    output = spec.get("model_prediction_output")
    if output is not None and (not isinstance(output, dict) or output.get("output_class") not in OUTPUT_CLASSES):
        raise InvalidInput(
            "spec.model_prediction_output needs output_class, one of "
            f"{', '.join(OUTPUT_CLASSES)}.", field="spec.model_prediction_output")
    return spec
