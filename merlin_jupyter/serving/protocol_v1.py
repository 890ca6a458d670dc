"""The V1 protocol (KServe / TF-Serving style): ``{"instances": [...]}`` → ``{"predictions": [...]}``.

Also accepted, because clients send them: ``{"inputs": [...]}`` and MLflow's
``{"dataframe_split": {"columns": [...], "data": [...]}}`` / ``{"dataframe_records": [...]}``.
Custom models with ``infer(request)`` receive the body as sent and answer as they like.
"""
from __future__ import annotations

from typing import Any

from .dataplane import DataPlane
from .errors import InvalidInput

EXPECTED = 'the body must be JSON like {"instances": [[...], ...]} or {"instances": [{"column": value}, ...]}'


def instances_of(body: Any) -> Any:
    if not isinstance(body, dict):
        raise InvalidInput(f"{EXPECTED}, not a JSON {type(body).__name__}")
    if "instances" in body:
        return body["instances"]
    if "inputs" in body:
        return body["inputs"]
    if "dataframe_records" in body:
        return body["dataframe_records"]
    split = body.get("dataframe_split")
    if isinstance(split, dict) and isinstance(split.get("columns"), list):
        return [dict(zip(split["columns"], row)) for row in split.get("data") or []]
    raise InvalidInput(f"{EXPECTED}; found the keys {sorted(body)}")


def predict(plane: DataPlane, body: Any, headers: dict[str, str] | None = None) -> Any:
    if plane.model.infer is not None:
        return plane.infer(body, headers)
    return {"predictions": plane.predict_instances(instances_of(body))}


def status(plane: DataPlane) -> dict:
    return {"name": plane.name, "ready": plane.ready}
