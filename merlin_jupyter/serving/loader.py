"""Loads what an endpoint serves: an MLflow model (any flavor, via pyfunc), a custom pyfunc model
with Merlin's ``initialize(artifacts)`` / ``infer(request)`` hooks, or a directory in Merlin's
standard layout (``model.joblib``, ``model.bst``, ``model.onnx``).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote, urlparse

from .errors import LoadFailed
from .merlin_pyfunc import merlin_sdk_infer
from .signature import METADATA_KEY, InputSignature

STANDARD_FILES = ("model.joblib", "model.bst", "model.onnx")


@dataclass
class ServedModel:
    """A loaded model behind one call: ``predict(converted_input)``."""

    predict: Callable[[Any], Any]
    signature: InputSignature = field(default_factory=InputSignature)
    input_example: Any = None
    # custom models take the request body as it came, and its headers: ``infer(body, headers)``
    infer: Callable[[Any, dict], Any] | None = None
    flavor: str = "pyfunc"
    load_seconds: float = 0.0
    # The model's library takes a numpy array as well as a DataFrame (the data plane checks, on
    # the input example, that it predicts both the same before it sends arrays).
    array_capable: bool = False


def local_path(uri: str) -> str | None:
    """The directory a ``file://`` URI or plain path names, or None for remote URIs."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return uri
    return None


def load(uri: str) -> ServedModel:
    started = time.perf_counter()
    path = local_path(uri)
    if path is not None and not os.path.exists(path):
        raise LoadFailed(f"there is no model at {path} (the path does not exist).")
    if path is not None and not os.path.exists(os.path.join(path, "MLmodel")):
        if any(os.path.exists(os.path.join(path, name)) for name in STANDARD_FILES):
            served = _load_standard(path)
        else:
            raise LoadFailed(
                f"{path} is neither an MLflow model (no MLmodel file) nor a directory with one of "
                f"{', '.join(STANDARD_FILES)}.")
    else:
        served = _load_mlflow(uri)
    served.load_seconds = time.perf_counter() - started
    return served


def _load_standard(path: str) -> ServedModel:
    from . import formats  # written beside this module; a pure loader of the standard layout

    model = formats.load_standard_layout(path)
    return ServedModel(predict=model.predict, flavor="standard")


def _load_mlflow(uri: str) -> ServedModel:
    import mlflow.pyfunc

    try:
        model = mlflow.pyfunc.load_model(uri)
    except Exception as exc:  # noqa: BLE001 - every loader failure becomes a reason in words
        raise LoadFailed(f"MLflow could not load the model at {uri}: {type(exc).__name__}: {exc}") from exc
    _one_thread_each(model)
    schema = model.metadata.get_input_schema() if model.metadata else None
    restore = (getattr(model.metadata, "metadata", None) or {}).get(METADATA_KEY) if model.metadata else None
    flavor = _loader_module(model) or "pyfunc"
    served = ServedModel(predict=_fast_predict(model), signature=InputSignature(schema, restore),
                         input_example=_input_example(model), flavor=flavor,
                         array_capable=flavor in ARRAY_FLAVORS)
    if served.array_capable:
        _quiet_about_feature_names()
    infer = custom_infer(model)
    if infer is not None:
        served.infer = infer
        served.flavor = "custom"
    return served


def _one_thread_each(model: Any) -> None:
    """LightGBM and XGBoost models predict with a thread pool of their own (OpenMP). The model is
    loaded and its example predicted before the workers are forked, and that pool does not
    survive fork: a worker's first prediction would hang. Workers are processes, one per core,
    so each model runs single-threaded instead."""
    impl = getattr(model, "_model_impl", None)
    for inner in (getattr(impl, "lgb_model", None), getattr(impl, "xgb_model", None)):
        if inner is None:
            continue
        try:
            if hasattr(inner, "get_params") and "n_jobs" in inner.get_params():
                inner.set_params(n_jobs=1)  # the scikit-learn APIs of both libraries
            elif hasattr(inner, "reset_parameter"):
                inner.reset_parameter({"num_threads": 1})  # a LightGBM Booster
            elif hasattr(inner, "set_param"):
                inner.set_param({"nthread": 1})  # an XGBoost Booster
        except Exception:  # noqa: BLE001 - a model that refuses keeps its own setting
            pass


def _loader_module(model: Any) -> str | None:
    # MLflow 1.x (isolated environments of merlin-sdk models) has no PyFuncModel.loader_module.
    found = getattr(model, "loader_module", None)
    if found is None and model.metadata is not None:
        found = model.metadata.flavors.get("python_function", {}).get("loader_module")
    return found


# Flavors whose wrapper predicts the converted input as it is. MLflow's own schema enforcement
# would also turn a restored ``category`` column back into strings, which LightGBM refuses, and
# costs more than a small model's prediction.
FAST_FLAVORS = ("mlflow.sklearn", "mlflow.lightgbm", "mlflow.xgboost", "mlflow.pyfunc.model")
# Libraries that predict a numpy array as they predict a DataFrame of the same numbers.
ARRAY_FLAVORS = ("mlflow.sklearn", "mlflow.lightgbm", "mlflow.xgboost")


def _fast_predict(model: Any) -> Callable[[Any], Any]:
    """The flavor's own predict when our signature conversion already did MLflow's checks."""
    impl = getattr(model, "_model_impl", None)
    # The method the MLmodel names (``pyfunc_predict_fn``: predict_proba, ...), as MLflow calls it.
    name = (model.metadata.flavors.get("python_function", {}).get("predict_fn") if model.metadata else None) \
        or "predict"
    if _loader_module(model) not in FAST_FLAVORS or not callable(getattr(impl, name, None)):
        return model.predict
    if _loader_module(model) == "mlflow.pyfunc.model" and _converts_to_example(model):
        return model.predict  # MLflow turns the DataFrame into the example's type first
    estimator = getattr(impl, "sklearn_model", None)
    if _loader_module(model) == "mlflow.sklearn" and callable(getattr(estimator, name, None)):
        return getattr(estimator, name)  # the wrapper only forwards to it
    return getattr(impl, name)


def _converts_to_example(model: Any) -> bool:
    try:
        return bool(model.metadata._is_type_hint_from_example())
    except Exception:  # noqa: BLE001 - an MLflow without type hints converts nothing
        return False


def _quiet_about_feature_names() -> None:
    """scikit-learn warns on every array given to a model fitted on a DataFrame; the data plane
    sends one only after checking that the model predicts it the same (the columns are the
    signature's, in its order)."""
    import warnings

    warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)


def _input_example(model: Any) -> Any:
    try:
        return model.input_example
    except Exception:  # noqa: BLE001 - an unreadable example only skips the readiness prediction
        return None


def custom_infer(model: Any) -> Callable[[Any, dict], Any] | None:
    """``infer(body, headers)`` of a model with Merlin's hooks, or None for a plain model.

    A class deriving from one of merlin-sdk's own models is called as Merlin's model server
    calls it (see ``pyfunc.merlin_sdk_infer``); this project's ``PyFuncModel`` gets the body.
    """
    impl = getattr(model, "_model_impl", None)
    python_model = getattr(impl, "python_model", None)
    if python_model is None:
        try:
            python_model = model.unwrap_python_model()
        except Exception:  # noqa: BLE001 - not a python_function model
            return None
    if not callable(getattr(python_model, "infer", None)):
        return None
    sdk_infer = merlin_sdk_infer(python_model, getattr(impl, "context", None))
    if sdk_infer is not None:
        return sdk_infer
    return lambda body, headers: python_model.infer(body)
