"""The Open Inference Protocol (V2): ``POST /v2/models/{name}/infer``.

Request ``{"inputs": [{"name", "shape", "datatype", "data"}], "id"?}``. With a column signature,
one input per column (shape ``[n]`` or ``[n, 1]``) or a single ``[n, k]`` input holding rows;
with a tensor signature, one input of the tensor's shape. Response ``{"model_name", "id",
"outputs": [{"name": "predict", "datatype", "shape", "data"}]}`` with ``data`` flattened; a
model answering named columns (a DataFrame) gets one output per column instead. With one
unnamed column (a list of strings), one input of shape ``[n]`` holds the values.
"""
from __future__ import annotations

from typing import Any

from .dataplane import DataPlane, _v2_type, to_list
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


def _rows_array(body: Any) -> Any:
    """The one ``[n, k]`` tensor of plain numbers most requests send, as one numpy array made
    from the flat data (no Python reshaping into rows and back), or None for anything else
    (nested data, named columns, nulls, strings, a wrong shape), which the general path reads
    and diagnoses."""
    import numpy as np

    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        return None
    data, shape = inputs[0].get("data"), inputs[0].get("shape")
    if not isinstance(data, list) or not data or isinstance(data[0], list) or not isinstance(shape, list) \
            or len(shape) != 2 or not all(isinstance(d, int) and d > 0 for d in shape) or shape[0] * shape[1] != len(data):
        return None
    try:
        array = np.asarray(data)
    except (ValueError, TypeError):
        return None
    return array.reshape(shape) if array.ndim == 1 and array.dtype.kind in "fib" else None


def infer(plane: DataPlane, body: Any) -> dict:
    array = _rows_array(body)
    model_input = plane.model.signature.convert_array(array) if array is not None else None
    if model_input is not None:
        predictions = to_list(plane.predict(model_input))
    else:
        predictions = plane.predict_instances(instances_of(plane, body))
    answer = {"model_name": plane.name, "outputs": _outputs(predictions)}
    if isinstance(body, dict) and "id" in body:
        answer["id"] = body["id"]
    return answer


def _outputs(predictions: list) -> list[dict]:
    """One ``predict`` output; a model answering a DataFrame of named columns gets one output per
    column, named after it (as MLServer's pandas codec answers)."""
    if predictions and all(isinstance(row, dict) for row in predictions):
        names = list(predictions[0])
        columns = {name: [row.get(name) for row in predictions] for name in names}
        return [{"name": str(name), "datatype": _datatype(values), "shape": [len(values)], "data": values}
                for name, values in columns.items()]
    shape = [len(predictions)]
    flat = predictions
    if predictions and isinstance(predictions[0], list):
        shape.append(len(predictions[0]))
        flat = [value for row in predictions for value in row]
    return [{"name": "predict", "datatype": _datatype(flat), "shape": shape, "data": flat}]


def _datatype(values: list) -> str:
    sample = values[0] if values else 0.0
    if isinstance(sample, bool):
        return "BOOL"
    if isinstance(sample, int):
        return "INT64"
    if isinstance(sample, float):
        return "FP64"
    return _v2_type("object")
