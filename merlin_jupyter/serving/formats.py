"""Merlin's standard model layout: a directory holding ``model.joblib`` (scikit-learn),
``model.bst`` (XGBoost) or ``model.onnx`` (ONNX), as ``merlin-sdk``'s ``log_model(model_dir)``
uploads it.

Each loader returns an object with ``predict(rows)``, called the way Merlin's own servers call
these models: the request's instances as one numpy array (sklearnserver and xgbserver do
``np.array(instances)``). A missing library is said in words, naming the package to install.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from .errors import LoadFailed


def _as_array(rows: Any, dtype: Any = None) -> Any:
    import numpy as np

    if hasattr(rows, "to_numpy"):  # the data plane hands signature-less rows over as a DataFrame
        rows = rows.to_numpy()
    return np.asarray(rows, dtype=dtype)


def _require(module: str, package: str, file: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise LoadFailed(
            f"{file} needs the Python package {package!r}, which is not installed where the model "
            f"server runs ({exc}). Install it (pip install {package}) or log the model with its "
            "requirements so it gets an environment of its own.") from exc


class SklearnModel:
    file = "model.joblib"

    def __init__(self, path: str):
        joblib = _require("joblib", "joblib", self.file)
        _require("sklearn", "scikit-learn", self.file)
        self.model = joblib.load(path)
        if not callable(getattr(self.model, "predict", None)):
            raise LoadFailed(f"{path} holds a {type(self.model).__name__}, which has no predict().")

    def predict(self, rows: Any) -> Any:
        return self.model.predict(_as_array(rows))


class XGBoostModel:
    file = "model.bst"

    def __init__(self, path: str):
        self.xgb = _require("xgboost", "xgboost", self.file)
        self.booster = self.xgb.Booster()
        self.booster.load_model(path)

    def predict(self, rows: Any) -> Any:
        return self.booster.predict(self.xgb.DMatrix(_as_array(rows)))


class OnnxModel:
    file = "model.onnx"
    # ONNX declares its input's element type; requests carry plain JSON numbers.
    _NUMPY = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64",
              "tensor(int32)": "int32", "tensor(bool)": "bool", "tensor(string)": "object"}

    def __init__(self, path: str):
        ort = _require("onnxruntime", "onnxruntime", self.file)
        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        self.dtype = self._NUMPY.get(first.type, "float32")

    def predict(self, rows: Any) -> Any:
        outputs = self.session.run(None, {self.input_name: _as_array(rows, self.dtype)})
        return outputs[0]  # the first output is the prediction (labels for converted classifiers)


LOADERS: dict[str, Callable[[str], Any]] = {
    SklearnModel.file: SklearnModel,
    XGBoostModel.file: XGBoostModel,
    OnnxModel.file: OnnxModel,
}


def load_standard_layout(path: str) -> Any:
    """The model in directory ``path`` (the first of the standard files found), ready to predict."""
    for name, loader in LOADERS.items():
        file = os.path.join(path, name)
        if os.path.exists(file):
            try:
                return loader(file)
            except LoadFailed:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure becomes a reason in words
                raise LoadFailed(f"could not load {file}: {type(exc).__name__}: {exc}") from exc
    raise LoadFailed(f"{path} holds none of {', '.join(LOADERS)}.")
