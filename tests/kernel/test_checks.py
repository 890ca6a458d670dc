"""Before a deploy, the model is loaded in a fresh process; error paths say what to do, in words."""
from __future__ import annotations

import sys

import pytest
from IPython.core.error import UsageError

import merlin_jupyter as sdk
from tests.conftest import sklearn_model


def log_pyfunc(model, example=None):
    with sdk.new_model_version() as version:
        sdk.log_pyfunc_model(model, input_example=example)
    return version


def log_unchecked(model, example=None):
    """Log as a client other than this SDK does (plain MLflow): nothing checks it before a deploy."""
    import mlflow

    with sdk.new_model_version() as version:
        mlflow.pyfunc.log_model(name="model", python_model=model, input_example=example,
                                pip_requirements=["mlflow"])
    return version


def test_a_model_that_cannot_load_is_not_deployed(merlin):
    import mlflow.pyfunc

    class Corrupt(mlflow.pyfunc.PythonModel):  # local: pickled by value
        def load_context(self, context):
            raise RuntimeError("the weights file is corrupt")

        def predict(self, context, model_input):
            return model_input

    merlin("model cannot-load")
    with pytest.raises(sdk.MerlinError, match="The Corrupt was not logged: saved and loaded back .*corrupt"):
        log_pyfunc(Corrupt())  # this SDK loads it back before logging it
    version = log_unchecked(Corrupt()).id
    with pytest.raises(UsageError, match=f"Version {version} was not deployed: its model cannot be loaded: .*corrupt"):
        merlin(f"deploy v{version} --env local")
    assert list(merlin(f"status v{version}")) == []  # nothing reached the control plane


def test_a_missing_dependency_and_an_example_it_cannot_predict(merlin, tmp_path, monkeypatch):
    (tmp_path / "notebook_helpers.py").write_text(
        "import mlflow.pyfunc\n\n"
        "class Doubler(mlflow.pyfunc.PythonModel):\n"
        "    def predict(self, context, model_input):\n"
        "        return model_input * 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # importable here, not in a fresh process
    from notebook_helpers import Doubler

    merlin("model checked")
    log_pyfunc(Doubler())
    missing = sdk.check_version(1)
    assert missing.kind == "dependency" and "'notebook_helpers'" in missing.problem
    assert "code_dir" in missing.problem
    sys.modules.pop("notebook_helpers")

    import mlflow.pyfunc

    class Picky(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            raise ValueError("expects 4 columns")

    picky = sdk.check_version(log_unchecked(Picky(), example=[[1.0, 2.0]]))
    assert picky.kind == "signature" and "could not predict its own input example" in picky.problem


def test_a_good_model_passes_and_differing_requirements_are_warned(merlin):
    clf, sample = sklearn_model()
    merlin("model requirements --type sklearn")
    with sdk.new_model_version():
        sdk.log_model(clf, input_example=sample, pip_requirements=["scikit-learn==0.0.1", "mlflow"])
    result = sdk.check_version(1)
    assert result.ok, result.problem
    assert result.warnings == ["the model was logged with scikit-learn==0.0.1; this kernel has scikit-learn "
                               + __import__("sklearn").__version__ + "."]


@pytest.mark.parametrize("line,words", [
    ("deploy v9", "Model 'names' has no version 9: `%merlin ls` lists"),
    ("traffic v7=100", "Version 7 of 'names' has no running endpoint"),
    ("logs v1", "Version 1 has never been deployed"),
    ("model other-name --type nonsense", "type"),
    ("log clf --sample X_test[:,:2]", "could not predict the input example"),
    ("log clf --sample X_test[:, :2]", 'Quote an expression with spaces'),
    ("log clf --sample no_such_name", "could not be evaluated"),
])
def test_unknown_names_and_wrong_samples(ip, merlin, line, words):
    clf, sample = sklearn_model()
    ip.user_ns.update(clf=clf, X_test=sample)
    merlin("model names --type sklearn")
    if line.startswith("logs"):
        merlin("log clf --sample X_test[:3]")
    with pytest.raises(UsageError, match=words):
        merlin(line)
    if line.startswith("log "):
        assert list(merlin("ls")) == []  # a refused log leaves no empty version behind


def test_without_a_control_plane_connect_says_so(merlin):
    with pytest.raises(UsageError, match="Cannot reach the Merlin control plane at http://127.0.0.1:9/"):
        merlin("connect http://127.0.0.1:9")


def test_without_any_control_plane_the_magic_says_how_to_start_one(tmp_path):
    import subprocess

    script = ("from IPython.testing.globalipapp import get_ipython\n"
              "ip = get_ipython()\nip.run_line_magic('load_ext', 'merlin_jupyter')\n"
              "ip.run_cell('%merlin project demo')\n")
    env = {"PATH": "/usr/bin:/bin", "JUPYTER_RUNTIME_DIR": str(tmp_path), "HOME": str(tmp_path),
           "MERLIN_AUTOSTART": "0"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    shown = out.stdout + out.stderr
    assert "UsageError: No Merlin control plane found" in shown and "jupyter merlin" in shown
    assert "Traceback" not in shown
