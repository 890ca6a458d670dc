"""Flavor detection by the classes a model is made of, and %merlin log of the installed flavors.

scikit-learn, LightGBM and mlflow.pyfunc are installed (test extras) and logged for real.
XGBoost, PyTorch, TensorFlow/Keras and ONNX are not: their detection is tested with stand-in
classes that carry the real libraries' module and class names (nothing is imported).
"""
from __future__ import annotations

import subprocess
import sys

import mlflow
import pytest
from IPython.core.error import UsageError

import merlin_jupyter as sdk
from merlin_jupyter.flavors import detect, estimator_params, flavor_of
from tests.conftest import sklearn_model


def standin(module: str, name: str, *bases: type, **attrs) -> type:
    """A class that looks, to detection, like ``module.name`` of a library that is not installed."""
    return type(name, bases, {"__module__": module, **attrs})


def estimator_api(self, *args, **kwargs):
    return self


STANDINS = {
    "xgboost": standin("xgboost.sklearn", "XGBClassifier", fit=estimator_api, predict=estimator_api,
                       get_params=estimator_api),
    "lightgbm": standin("lightgbm.sklearn", "LGBMRegressor", fit=estimator_api, predict=estimator_api,
                        get_params=estimator_api),
    "pytorch": standin("__main__", "Net", standin("torch.nn.modules.module", "Module")),
    "keras": standin("__main__", "Classifier", standin("keras.src.models.model", "Model")),
    "tensorflow": standin("__main__", "Exported", standin("tensorflow.python.module.module", "Module")),
    "onnx": standin("onnx.onnx_ml_pb2", "ModelProto"),
}


@pytest.mark.parametrize("flavor", sorted(STANDINS))
def test_flavors_of_libraries_not_installed_are_detected_by_name(flavor):
    assert flavor_of(STANDINS[flavor]()) == flavor


def test_installed_flavors_and_refusals():
    clf, _ = sklearn_model()
    assert flavor_of(clf) == "sklearn"
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    assert flavor_of(make_pipeline(StandardScaler(), clf)) == "sklearn"

    class Wrapper(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            return model_input

    assert flavor_of(Wrapper()) == "pyfunc"
    with pytest.raises(sdk.MerlinError, match="Cannot log a dict: .*PyTorch module"):
        detect({"not": "a model"})
    assert estimator_params(clf)["C"] == "1.0" and estimator_params(Wrapper()) == {}


def test_detection_imports_no_library():
    script = ("import sys\nfrom merlin_jupyter.flavors import detect\n"
              "class Module: pass\nModule.__module__ = 'torch.nn.modules.module'\n"
              "print(detect(Module()).name, [m for m in ('torch', 'tensorflow', 'keras', 'xgboost', 'lightgbm', "
              "'onnx', 'sklearn', 'mlflow') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "pytorch []", out.stderr


def test_log_records_the_flavor_the_estimators_params_and_a_pyfunc(ip, merlin):
    clf, sample = sklearn_model()

    class Threshold(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            return [int(row[0] > 0.5) for row in model_input]

    ip.user_ns.update(clf=clf, X_test=sample, threshold=Threshold())
    merlin("model flavors --type sklearn")
    version = merlin("log clf --sample X_test[:3] --param C=2.0")
    run = mlflow.get_run(version.mlflow_run_id)
    assert run.data.params["max_iter"] == "100" and run.data.params["C"] == "2.0"  # yours win
    assert merlin("log threshold --sample X_test[:2].tolist()").id == 2
    with pytest.raises(UsageError, match="Cannot log a int"):
        ip.user_ns["number"] = 3
        merlin("log number")
    assert [v.id for v in merlin("ls")] == [2, 1]  # the refused log created no version


def test_a_lightgbm_model_is_logged_with_its_flavor_deployed_and_predicts(ip, merlin):
    lightgbm = pytest.importorskip("lightgbm")  # in the test extras; skipped only outside them
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.random((200, 4))
    booster = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1)
    booster.fit(X, (X[:, 0] > 0.5).astype(int))
    ip.user_ns.update(booster=booster, X_lgb=X)
    merlin("model boosted --type pyfunc")
    version = merlin("log booster --sample X_lgb[:3]")
    run = mlflow.get_run(version.mlflow_run_id)
    assert run.data.params["n_estimators"] == "20"
    assert flavor_of(booster) == "lightgbm"
    # LightGBM predicts with an OpenMP pool, which does not survive the model server's fork:
    # the endpoint must answer from its forked workers, not hang.
    endpoint = merlin(f"deploy {version.id}")
    assert endpoint.status == "running", endpoint.message
    assert merlin(f"predict X_lgb[:5] --version {version.id}") == booster.predict(X[:5]).tolist()
    merlin(f"undeploy {version.id}")
