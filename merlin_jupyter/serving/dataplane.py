"""The protocol-free data plane: readiness, prediction and output encoding for one model.

The V1 and V2 protocol modules only translate HTTP bodies to the calls here.
"""
from __future__ import annotations

from typing import Any

from .errors import InvalidInput, LoadFailed, ModelNotFound, ModelNotReady, ServingError
from .loader import ServedModel


class DataPlane:
    def __init__(self, model: ServedModel, name: str):
        self.model = model
        self.name = name
        self.ready = False

    def check_ready(self) -> None:
        """Ready means a real prediction: the logged input example goes through the model, sent
        as a request would send it (JSON instances, then the signature's conversion), so a model
        that is ready answers requests shaped like its example."""
        example = self.model.input_example
        if example is not None and self.model.infer is None:
            try:
                instances = example_instances(example)
                if instances is None:
                    self.model.predict(example)  # not expressible as JSON instances (a sparse matrix)
                else:
                    self.predict_instances(instances)
                    self._take_arrays_if_same(instances)
            except ServingError as exc:
                raise LoadFailed(f"the model loaded but could not predict its own input example: "
                                 f"{exc.message}") from exc
            except Exception as exc:  # noqa: BLE001 - said in words by the caller
                raise LoadFailed(
                    f"the model loaded but could not predict its own input example: "
                    f"{type(exc).__name__}: {exc}") from exc
        self.ready = True

    def _take_arrays_if_same(self, instances: list) -> None:
        """Give the model a numpy array instead of a DataFrame when it predicts the example the
        same from both. For a one-row request the DataFrame (and scikit-learn's checks of its
        columns) costs more than the prediction; a model that reads columns by name (a
        ColumnTransformer, a function of ``X["col"]``) fails or differs here and keeps the
        DataFrame."""
        signature = self.model.signature
        if not self.model.array_capable or not signature.may_take_array:
            return
        rows = signature.rows_of(instances) if isinstance(instances[0], dict) else instances
        if rows is None or not all(isinstance(row, list) for row in rows):
            return
        expected = self.predict_instances(rows)
        signature.array_ok = True
        try:
            same = self.predict_instances(rows) == expected
        except Exception:  # noqa: BLE001 - the DataFrame it is, then
            same = False
        signature.array_ok = same

    def require(self, name: str) -> None:
        if name != self.name:
            raise ModelNotFound(f"model {name!r} is not served here; this server serves {self.name!r}.")
        if not self.ready:
            raise ModelNotReady(f"model {self.name!r} is still loading.")

    def predict(self, model_input: Any) -> Any:
        """Run the model on an already converted input; model errors become InvalidInput."""
        try:
            return self.model.predict(model_input)
        except Exception as exc:  # noqa: BLE001 - a bad request never stops the server
            raise InvalidInput(
                f"the model could not predict these inputs ({type(exc).__name__}: {exc}); "
                f"it expects {self.model.signature.describe()}.") from None

    def predict_instances(self, instances: Any) -> list:
        return to_list(self.predict(self.model.signature.convert(instances)))

    def infer(self, body: Any, headers: dict[str, str] | None = None) -> Any:
        """A custom model's ``infer(request)``: the body as sent, the answer as returned."""
        try:
            return self.model.infer(body, headers or {})
        except Exception as exc:  # noqa: BLE001 - the model's own error, told to the caller
            raise InvalidInput(f"the model's infer() failed: {type(exc).__name__}: {exc}") from None

    def metadata(self) -> dict:
        signature = self.model.signature
        inputs = [{"name": c, "datatype": _v2_type(signature.dtypes.get(c, "object")), "shape": [-1]}
                  for c in signature.columns or []]
        if signature.tensor:
            inputs = [{"name": "input-0", "datatype": _v2_type(signature.tensor[0]),
                       "shape": list(signature.tensor[1])}]
        return {"name": self.name, "versions": [], "platform": self.model.flavor,
                "inputs": inputs, "outputs": [{"name": "predict", "datatype": "BYTES", "shape": [-1]}]}


def example_instances(example: Any) -> list | None:
    """The logged input example as the ``instances`` of a V1 request, or None if JSON cannot say it."""
    import json

    from .instances import to_instances

    if isinstance(example, dict) and "instances" in example:
        instances = example["instances"]
    elif isinstance(example, dict) or hasattr(example, "tocsr"):  # a JSON object, a sparse matrix
        return None
    else:
        instances = to_instances(example)
    return json.loads(json.dumps(instances)) if isinstance(instances, list) and instances else None


def to_list(result: Any) -> list:
    if hasattr(result, "to_dict") and hasattr(result, "columns"):
        if len(result.columns) == 1:
            return result.iloc[:, 0].tolist()
        return result.to_dict(orient="records")
    if hasattr(result, "tolist"):
        return result.tolist()
    return list(result) if isinstance(result, (list, tuple)) else [result]


_V2_TYPES = {"float64": "FP64", "float32": "FP32", "int64": "INT64", "int32": "INT32",
             "bool": "BOOL", "object": "BYTES", "double": "FP64", "float": "FP32", "long": "INT64",
             "integer": "INT32", "boolean": "BOOL", "string": "BYTES"}


def _v2_type(dtype: str) -> str:
    return _V2_TYPES.get(str(dtype), "BYTES")
