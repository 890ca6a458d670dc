"""Logging a model object into the current MLflow run, whatever library made it.

The flavor is detected from the classes the object is made of (their modules and names), never
by importing a library: a kernel that has no PyTorch pays nothing for PyTorch support, and a
model object can only exist if its library is already imported.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .client import MerlinError


@dataclass(frozen=True)
class Flavor:
    name: str  # the MLflow flavor module: mlflow.<name>
    package: str  # the pip package recorded in the model's requirements
    predicts: bool  # has .predict(example): the signature is inferred here; else MLflow infers it


PYFUNC = Flavor("pyfunc", "pandas", True)
SKLEARN = Flavor("sklearn", "scikit-learn", True)
XGBOOST = Flavor("xgboost", "xgboost", True)
LIGHTGBM = Flavor("lightgbm", "lightgbm", True)
PYTORCH = Flavor("pytorch", "torch", False)
TENSORFLOW = Flavor("tensorflow", "tensorflow", False)
KERAS = Flavor("keras", "keras", False)
ONNX = Flavor("onnx", "onnx", False)

# The root module of a class in the object's MRO → its flavor. Order matters where libraries
# mimic each other: XGBoost's and LightGBM's scikit-learn wrappers are not scikit-learn models.
BY_ROOT_MODULE = (("xgboost", XGBOOST), ("lightgbm", LIGHTGBM), ("torch", PYTORCH), ("keras", KERAS),
                  ("tf_keras", TENSORFLOW), ("tensorflow", TENSORFLOW), ("onnx", ONNX), ("sklearn", SKLEARN))


def _lineage(model: Any) -> list[tuple[str, str]]:
    """(module, class name) of every class the object's type derives from, itself first."""
    return [(getattr(cls, "__module__", "") or "", cls.__name__) for cls in type(model).__mro__]


def detect(model: Any) -> Flavor:
    """The flavor of ``model``; MerlinError saying what can be logged for anything else."""
    lineage = _lineage(model)
    if any(module.startswith("mlflow.pyfunc") and name == "PythonModel" for module, name in lineage):
        return PYFUNC
    roots = [module.split(".")[0] for module, _ in lineage]
    for root, flavor in BY_ROOT_MODULE:
        if root in roots:
            return flavor
    if all(callable(getattr(model, attr, None)) for attr in ("fit", "predict", "get_params")):
        return SKLEARN  # a hand-written estimator following scikit-learn's API
    raise MerlinError(
        f"Cannot log a {type(model).__name__}: pass a fitted scikit-learn, XGBoost or LightGBM model, a "
        "PyTorch module, a TensorFlow/Keras model, an ONNX ModelProto or an mlflow.pyfunc.PythonModel "
        "(wrap anything else in a PythonModel)."
    )


def flavor_of(model: Any) -> str:
    """The MLflow flavor name of ``model``: ``sklearn``, ``xgboost``, ``pytorch``, ``pyfunc``..."""
    return detect(model).name


def estimator_params(model: Any) -> dict[str, str]:
    """The model's own hyper-parameters (scikit-learn API ``get_params``), as MLflow params."""
    get_params = getattr(model, "get_params", None)
    if not callable(get_params) or detect(model) not in (SKLEARN, XGBOOST, LIGHTGBM):
        return {}
    try:
        params = get_params(deep=False)
    except Exception:  # noqa: BLE001 - params are a courtesy; never fail a log for them
        return {}
    return {str(k): str(v)[:500] for k, v in params.items() if v is None or isinstance(v, (str, int, float, bool))}


def _requirements(*packages: str) -> list[str]:
    # Pinning what is installed skips MLflow's 2-3 s requirement inference and records the truth.
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for package in ("mlflow", *packages):
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            pins.append(package)
    return pins


def _signature(model: Any, example: Any) -> Any:
    if example is None:
        return None
    from mlflow.models import infer_signature

    try:
        return infer_signature(example, model.predict(example))
    except Exception as exc:  # noqa: BLE001 - a bad sample is the user's to fix, said in words
        raise MerlinError(f"The model could not predict the input example: {str(exc).rstrip('. ')}. "
                          "Pass a few rows it accepts.") from None


def check_example(model: Any, example: Any) -> None:
    """MerlinError if ``model`` cannot predict ``example`` (for flavors with ``predict``)."""
    if example is not None and detect(model).predicts and detect(model) is not PYFUNC:
        _signature(model, example)


def _require_run(call: str) -> None:
    import mlflow

    if mlflow.active_run() is None:
        raise MerlinError(f"No model version is open: use `with merlin.new_model_version():` around {call}.")


def log_any(model: Any, example: Any = None, pip_requirements: list[str] | None = None) -> None:
    """Log ``model`` under the run's ``model`` artifact with its flavor's own MLflow module."""
    import importlib

    _require_run("log_model")
    flavor = detect(model)
    if flavor is PYFUNC:
        log_pyfunc(model, None, None, example, pip_requirements)
        return
    module = importlib.import_module(f"mlflow.{flavor.name}")
    kwargs: dict[str, Any] = dict(name="model", input_example=example,
                                  pip_requirements=pip_requirements or _requirements(flavor.package))
    if flavor.predicts:
        kwargs["signature"] = _signature(model, example)
    module.log_model(model, **kwargs)


def log_pyfunc(model: Any, artifacts: dict[str, str] | None, code_dir: list[str] | None,
               example: Any = None, pip_requirements: list[str] | None = None) -> None:
    """Log an ``mlflow.pyfunc.PythonModel`` with the files it loads (``artifacts``) and its code."""
    import mlflow

    _require_run("log_pyfunc_model")
    mlflow.pyfunc.log_model(
        name="model", python_model=model, artifacts=artifacts, code_paths=code_dir,
        input_example=example, pip_requirements=pip_requirements or _requirements("pandas"),
    )
