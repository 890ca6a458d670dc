"""The protocol-free data plane: readiness, prediction and output encoding for one model.

The V1 and V2 protocol modules only translate HTTP bodies to the calls here.
"""
from __future__ import annotations

from typing import Any

from .errors import InvalidInput, LoadFailed, ModelNotFound, ModelNotReady
from .loader import ServedModel


class DataPlane:
    def __init__(self, model: ServedModel, name: str):
        self.model = model
        self.name = name
        self.ready = False

    def check_ready(self) -> None:
        """Ready means a real prediction: the logged input example goes through the model."""
        example = self.model.input_example
        if example is not None and self.model.infer is None:
            try:
                self.model.predict(self._example_input(example))
            except Exception as exc:  # noqa: BLE001 - said in words by the caller
                raise LoadFailed(
                    f"the model loaded but could not predict its own input example: "
                    f"{type(exc).__name__}: {exc}") from exc
        self.ready = True

    def _example_input(self, example: Any) -> Any:
        if isinstance(example, dict) and "instances" in example:
            return self.model.signature.convert(example["instances"])
        return example

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
