"""Logging a model object into the current MLflow run, whatever library made it.

The flavor is detected from the classes the object is made of (their modules and names), never
by importing a library: a kernel that has no PyTorch pays nothing for PyTorch support, and a
model object can only exist if its library is already imported.

A model is logged in two steps: ``prepare`` saves it in a temporary directory, loads it back with
the model server's own loader and predicts its input example as a request would send it; only
then does ``Prepared.log`` write it into a version's run. Whatever is wrong with the model or
its example is said before a version exists.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .client import MerlinError


@dataclass(frozen=True)
class Flavor:
    name: str  # the MLflow flavor module: mlflow.<name>
    package: str  # the pip package recorded in the model's requirements
    predicts: bool  # has .predict(example): the signature is inferred here; else MLflow infers it
    module: str = ""  # the import name, when the package is installed under another distribution
    extra: tuple[str, ...] = ()  # packages the saved model needs to load, besides the library


# scikit-learn models and PythonModels are saved with cloudpickle (see README, Architecture).
PYFUNC = Flavor("pyfunc", "pandas", True, extra=("cloudpickle",))
SKLEARN = Flavor("sklearn", "scikit-learn", True, "sklearn", ("cloudpickle",))
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


def _requirements(flavor: Flavor) -> list[str]:
    """``mlflow``, the flavor's library and what its serialization needs, pinned to this kernel.

    Pinning what is installed skips MLflow's 2-3 s requirement inference and records the truth.
    A library installed under another distribution (``xgboost-cpu`` provides ``xgboost``) is
    pinned by that distribution, which is what an environment rebuilt from the pins needs.
    """
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    pins = []
    for package in ("mlflow", flavor.package, *flavor.extra):
        try:
            pins.append(f"{package}=={version(package)}")
            continue
        except PackageNotFoundError:
            pass
        providers = packages_distributions().get(flavor.module or package) if package == flavor.package else None
        pins.append(f"{providers[0]}=={version(providers[0])}" if providers else package)
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


def input_description(example: Any) -> dict[str, Any] | None:
    """What MLflow's signature cannot record about the example, for the model server to restore:
    the kind of input, each column's exact dtype and each ``category`` column's categories."""
    if example is None:
        return None
    from .serving.instances import plain

    if isinstance(example, list):
        return {"kind": "list"}
    if hasattr(example, "columns") and hasattr(example, "dtypes"):
        dtypes, categories = {}, {}
        for column, dtype in example.dtypes.items():
            if str(dtype) == "category":
                categories[str(column)] = {"categories": plain(list(dtype.categories)), "ordered": bool(dtype.ordered)}
            else:
                dtypes[str(column)] = str(dtype)
        return {"kind": "dataframe", "dtypes": dtypes, "categories": categories}
    if hasattr(example, "to_list") and hasattr(example, "dtype"):
        return {"kind": "series"}
    return None


def _require_run(call: str) -> None:
    import mlflow

    if mlflow.active_run() is None:
        raise MerlinError(f"No model version is open: use `with merlin.new_model_version():` around {call}.")


class _Chosen(logging.Filter):
    """Drops MLflow's warnings about choices made here on purpose: cloudpickle serialization
    (the user's own model, see README) and its own serving-input check, which does not restore
    what the model server restores (``prepare`` runs the model server's check instead)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("loudPickle" in message or "cloudpickle format" in message
                    or "Failed to validate serving input example" in message)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in ("mlflow.sklearn", "mlflow.pyfunc", "mlflow.models.model")]
    chosen = _Chosen()
    for logger in loggers:
        logger.addFilter(chosen)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(chosen)


@dataclass
class Prepared:
    """A model saved, loaded back and predicted here, ready to be logged into a version's run."""

    flavor: Flavor
    model: Any
    kwargs: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str) -> None:
        import importlib

        module = importlib.import_module(f"mlflow.{self.flavor.name}")
        with _quiet():
            if self.flavor is PYFUNC:
                module.save_model(path, python_model=self.model, **self.kwargs)
            else:
                module.save_model(self.model, path, **self.kwargs)

    def log(self) -> None:
        """Log it as the ``model`` of the active run (the version's)."""
        import importlib

        _require_run("log_model")
        module = importlib.import_module(f"mlflow.{self.flavor.name}")
        with _quiet():
            if self.flavor is PYFUNC:
                module.log_model(name="model", python_model=self.model, **self.kwargs)
            else:
                module.log_model(self.model, name="model", **self.kwargs)


def prepare(model: Any, example: Any = None, pip_requirements: list[str] | None = None,
            artifacts: dict[str, str] | None = None, code_paths: list[str] | None = None,
            flavor: Flavor | None = None) -> Prepared:
    """Save ``model`` in a temporary directory and serve it there once: MerlinError in words if it
    cannot be saved, loaded back or made to predict its input example as a request sends it."""
    from .serving.signature import METADATA_KEY

    flavor = flavor or detect(model)
    kwargs: dict[str, Any] = {"input_example": example,
                              "pip_requirements": pip_requirements or _requirements(flavor)}
    if flavor is PYFUNC:
        kwargs.update(artifacts=artifacts, code_paths=code_paths)
    elif flavor.predicts:
        kwargs["signature"] = _signature(model, example)
    if flavor is SKLEARN:
        kwargs["serialization_format"] = "cloudpickle"
    description = input_description(example)
    if description:
        kwargs["metadata"] = {METADATA_KEY: description}
    prepared = Prepared(flavor, model, kwargs)
    _verify(prepared)
    return prepared


def _verify(prepared: Prepared) -> None:
    from .serving.dataplane import DataPlane
    from .serving.errors import LoadFailed
    from .serving.loader import load

    what = type(prepared.model).__name__
    with tempfile.TemporaryDirectory(prefix="merlin-log-") as tmp:
        path = os.path.join(tmp, "model")
        try:
            prepared.save(path)
        except Exception as exc:  # noqa: BLE001 - MLflow's reason, in words, with what to do
            raise MerlinError(f"The {what} was not logged: MLflow could not save it ({_first_line(exc)}). "
                              "Keep open files, locks and connections out of the model, or wrap it in an "
                              "mlflow.pyfunc.PythonModel that opens them in load_context.") from None
        try:
            DataPlane(load(path), "log").check_ready()
        except LoadFailed as exc:
            raise MerlinError(
                f"The {what} was not logged: saved and loaded back as the model server loads it, "
                f"{exc.reason.rstrip('.')}. Log it with an input example it predicts after a JSON round "
                "trip (numbers, strings, null, ISO times), or wrap it in an mlflow.pyfunc.PythonModel "
                "that converts its input.") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__).rstrip(". ")


def log_any(model: Any, example: Any = None, pip_requirements: list[str] | None = None) -> None:
    """Check ``model`` (``prepare``), then log it under the active run's ``model`` artifact."""
    _require_run("log_model")
    prepare(model, example, pip_requirements).log()


def log_pyfunc(model: Any, artifacts: dict[str, str] | None, code_dir: list[str] | None,
               example: Any = None, pip_requirements: list[str] | None = None) -> None:
    """Log an ``mlflow.pyfunc.PythonModel`` with the files it loads (``artifacts``) and its code."""
    _require_run("log_pyfunc_model")
    prepare(model, example, pip_requirements, artifacts, code_dir, flavor=PYFUNC).log()
