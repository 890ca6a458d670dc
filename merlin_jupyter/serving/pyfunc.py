"""Custom models with pre- and post-processing, in the spirit of Merlin's ``PyFuncModel``.

Subclass, implement ``initialize(artifacts)`` (runs once when the server loads the model) and
``infer(request)`` (gets the JSON body as sent, returns what is answered), then log it with
``merlin.log_pyfunc_model``. The model server calls ``infer`` directly for such models.
"""
from __future__ import annotations

from typing import Any

import mlflow.pyfunc


class PyFuncModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        self.initialize(dict(context.artifacts or {}))

    def predict(self, context, model_input, params=None):  # no hints: MLflow reads them as a schema
        if hasattr(model_input, "to_dict"):
            model_input = {"instances": model_input.values.tolist()}
        return self.infer(model_input)

    def initialize(self, artifacts: dict[str, str]) -> None:
        """Load what ``infer`` needs (files logged as ``artifacts``, by name)."""

    def infer(self, request: dict) -> Any:
        raise NotImplementedError("a PyFuncModel implements infer(request) -> response")
