"""The Open Inference Protocol (V2): ``POST /v2/models/{name}/infer``.

Request ``{"inputs": [{"name", "shape", "datatype", "data"}], "id"?}``. With a column signature,
one input per column (shape ``[n]`` or ``[n, 1]``) or a single ``[n, k]`` input holding rows;
with a tensor signature, one input of the tensor's shape. Response ``{"model_name", "id",
"outputs": [{"name": "predict", "datatype", "shape", "data"}]}`` with ``data`` flattened.
"""
from __future__ import annotations

from typing import Any

from .dataplane import DataPlane, _v2_type
from .errors import InvalidInput

EXPECTED = ('the body must be JSON like {"inputs": [{"name": "x", "shape": [1, 4], '
            '"datatype": "FP64", "data": [...]}]}')


def _reshape(flat: list, shape: list) -> list:
    if len(shape) <= 1:
        return list(flat)
    size = 1
    for dim in shape[1:]:
        size *= dim
    rows = [flat[i * size:(i + 1) * size] for i in range(shape[0])]
    return [_reshape(row, shape[1:]) for row in rows] if len(shape) > 2 else rows


def _tensor(item: Any) -> tuple[str, list]:
    if not isinstance(item, dict) or not isinstance(item.get("data"), list):
        raise InvalidInput(f"{EXPECTED}; each input needs a name, a shape and a data list")
    shape = item.get("shape") or [len(item["data"])]
    flat = item["data"]
    if flat and isinstance(flat[0], list):
        return str(item.get("name", "")), flat  # already nested, as some clients send
    expected = 1
    for dim in shape:
        expected *= int(dim)
    if expected != len(flat):
        raise InvalidInput(f"input {item.get('name')!r} has {len(flat)} values but shape {shape}")
    return str(item.get("name", "")), _reshape(flat, [int(d) for d in shape])


def instances_of(plane: DataPlane, body: Any) -> list:
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput(EXPECTED)
    tensors = [_tensor(item) for item in inputs]
    if len(tensors) == 1:
        return tensors[0][1]
    columns = plane.model.signature.columns
    names = [name for name, _ in tensors]
    if columns and sorted(names) != sorted(columns):
        raise InvalidInput(f"the inputs are named {names}; the model expects {plane.model.signature.describe()}")
    data = {name: [v[0] if isinstance(v, list) else v for v in values] for name, values in tensors}
    length = len(tensors[0][1])
    return [{name: data[name][i] for name in names} for i in range(length)]


def infer(plane: DataPlane, body: Any) -> dict:
    predictions = plane.predict_instances(instances_of(plane, body))
    shape = [len(predictions)]
    flat = predictions
    if predictions and isinstance(predictions[0], list):
        shape.append(len(predictions[0]))
        flat = [value for row in predictions for value in row]
    output = {"name": "predict", "datatype": _datatype(flat), "shape": shape, "data": flat}
    answer = {"model_name": plane.name, "outputs": [output]}
    if isinstance(body, dict) and "id" in body:
        answer["id"] = body["id"]
    return answer


def _datatype(values: list) -> str:
    sample = values[0] if values else 0.0
    if isinstance(sample, bool):
        return "BOOL"
    if isinstance(sample, int):
        return "INT64"
    if isinstance(sample, float):
        return "FP64"
    return _v2_type("object")
