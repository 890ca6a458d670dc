"""Checks before a deploy, run in the kernel: what a version's model needs and was logged with."""
from __future__ import annotations

import json
import os
from typing import Any

from .resources import ModelVersion


def model_dir(version: ModelVersion) -> str | None:
    """The local directory of the version's logged model, or None (remote, or nothing logged).

    MLflow 1.x/2.x clients log it under the run (``<artifact_uri>/model``); MLflow 3 logs a
    "logged model" with its own location, linked to the run (the control plane resolves it the
    same way before deploying).
    """
    in_run = _local(version.artifact_uri or "")
    if in_run and os.path.exists(os.path.join(in_run, "model", "MLmodel")):
        return os.path.join(in_run, "model")
    try:
        from mlflow import MlflowClient

        from .fluent import active_model, use_tracking

        use_tracking()
        found = MlflowClient().search_logged_models(
            experiment_ids=[str(active_model().mlflow_experiment_id)],
            filter_string=f"source_run_id = '{version.mlflow_run_id}'")
    except Exception:  # noqa: BLE001 - an older tracking server: the model is not found, said by the caller
        return None
    models = sorted(found, key=lambda m: (m.name != "model", -(m.creation_timestamp or 0)))
    path = _local(models[0].artifact_location) if models else None
    return path if path and os.path.exists(os.path.join(path, "MLmodel")) else None


def _local(uri: str) -> str | None:
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    return uri if uri and parsed.scheme == "" else None


def input_example_instances(version: ModelVersion, rows: int = 2) -> Any:
    """The first ``rows`` of the logged input example as V1 ``instances`` (None if unknown)."""
    path = model_dir(version)
    if path is None or not os.path.exists(os.path.join(path, "input_example.json")):
        return None
    try:
        with open(os.path.join(path, "input_example.json")) as handle:
            example = json.load(handle)
    except (OSError, ValueError):
        return None
    if isinstance(example, dict) and "columns" in example and "data" in example:
        return [dict(zip(example["columns"], row)) for row in example["data"][:rows]]
    if isinstance(example, dict) and "inputs" in example:
        example = example["inputs"]
    return example[:rows] if isinstance(example, list) else example
