"""Logging a model object into the current MLflow run, whatever library made it."""
from __future__ import annotations

from typing import Any

from .client import MerlinError


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
        raise MerlinError(f"The model could not predict the input example: {exc}. Pass a few rows it accepts.") from None


def flavor_of(model: Any) -> str:
    """``sklearn``, ``xgboost``, ``pyfunc``; MerlinError for anything else."""
    module = type(model).__module__.split(".")[0]
    import mlflow.pyfunc

    if isinstance(model, mlflow.pyfunc.PythonModel):
        return "pyfunc"
    if module == "xgboost":
        return "xgboost"
    if module == "sklearn" or (hasattr(model, "fit") and hasattr(model, "predict") and hasattr(model, "get_params")):
        return "sklearn"
    raise MerlinError(
        f"Cannot log a {type(model).__name__}: pass a fitted scikit-learn estimator, an XGBoost model "
        "or an mlflow.pyfunc.PythonModel (wrap anything else in a PythonModel)."
    )


def log_any(model: Any, example: Any = None, pip_requirements: list[str] | None = None) -> None:
    import mlflow

    if mlflow.active_run() is None:
        raise MerlinError("No model version is open: use `with merlin.new_model_version():` around log_model.")
    flavor = flavor_of(model)
    if flavor == "pyfunc":
        log_pyfunc(model, None, None, example, pip_requirements)
        return
    kwargs = dict(name="model", input_example=example, signature=_signature(model, example))
    if flavor == "sklearn":
        mlflow.sklearn.log_model(model, pip_requirements=pip_requirements or _requirements("scikit-learn"), **kwargs)
    else:
        mlflow.xgboost.log_model(model, pip_requirements=pip_requirements or _requirements("xgboost"), **kwargs)


def log_pyfunc(model: Any, artifacts: dict[str, str] | None, code_dir: list[str] | None,
               example: Any = None, pip_requirements: list[str] | None = None) -> None:
    import mlflow

    if mlflow.active_run() is None:
        raise MerlinError("No model version is open: use `with merlin.new_model_version():` around log_pyfunc_model.")
    mlflow.pyfunc.log_model(
        name="model", python_model=model, artifacts=artifacts, code_paths=code_dir,
        input_example=example, pip_requirements=pip_requirements or _requirements("pandas"),
    )
