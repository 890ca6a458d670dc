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
from .signature import InputSignature

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
    served = ServedModel(predict=_fast_predict(model), signature=InputSignature(schema),
                         input_example=_input_example(model),
                         flavor=_loader_module(model) or "pyfunc")
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


def _fast_predict(model: Any) -> Callable[[Any], Any]:
    """The flavor's own predict when our signature conversion already did MLflow's checks."""
    impl = getattr(model, "_model_impl", None)
    if _loader_module(model) == "mlflow.sklearn" and impl is not None and hasattr(impl, "predict"):
        return impl.predict
    return model.predict


def _input_example(model: Any) -> Any:
    try:
        return model.input_example
    except Exception:  # noqa: BLE001 - an unreadable example only skips the readiness prediction
        return None


def custom_infer(model: Any) -> Callable[[Any, dict], Any] | None:
    """``infer(body, headers)`` of a model with Merlin's hooks, or None for a plain model.

    A class deriving from merlin-sdk's own ``PyFuncModel`` is called as Merlin's model server
    calls it: through its ``predict`` with the body and the request headers in Merlin's input
    keys (it then calls ``infer(body, headers=...)``, or ``infer(body)`` for older models).
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
    if _is_merlin_pyfunc(python_model):
        context = getattr(impl, "context", None)
        return lambda body, headers: python_model.predict(
            context, {MERLIN_INPUT_KEY: body, MERLIN_EXTRA_ARGS_KEY: {"headers": headers}})
    return lambda body, headers: python_model.infer(body)


# merlin.pyfunc's keys: its PyFuncModel.predict unpacks the request from these.
MERLIN_INPUT_KEY, MERLIN_EXTRA_ARGS_KEY = "__INPUT__", "__EXTRA_ARGS__"


def _is_merlin_pyfunc(python_model: Any) -> bool:
    return any(cls.__module__ == "merlin.pyfunc" and cls.__name__ == "PyFuncModel"
               for cls in type(python_model).__mro__)
