"""A Merlin PyFuncModel logged with log_pyfunc_model and deployed through merlin-sdk 0.50: its
recorded requirements (merlin's own packages) differ from the server's, so it is served from an
isolated virtualenv. Prints one JSON line of what it saw."""
import json
import os
import tempfile

import joblib
import numpy as np
import requests
from sklearn import __version__ as sklearn_version
from sklearn.linear_model import LogisticRegression

from sdk_env import connect, merlin
from merlin.model import ModelType
from threshold_model import ThresholdModel


connect()
merlin.set_project(os.environ["COMPAT_PROJECT"])
seen = {}
merlin.set_model("xgb-model", ModelType.XGBOOST)
seen["xgboost_type"] = merlin.active_model().type.value
try:  # merlin-sdk 0.50's own API client refuses "onnx" before any request is sent
    merlin.set_model("onnx-model", ModelType.ONNX)
    seen["onnx_type"] = merlin.active_model().type.value
except ValueError as exc:
    seen["onnx_type"] = f"refused by the SDK: {str(exc).splitlines()[0]}"
merlin.set_model("threshold", ModelType.PYFUNC)

X = np.random.default_rng(2).random((50, 3))
clf = LogisticRegression().fit(X, (X[:, 2] > 0.4).astype(int))
path = os.path.join(tempfile.mkdtemp(), "model.joblib")
joblib.dump(clf, path)
pip = [f"scikit-learn=={sklearn_version}", "joblib"]
conda_env = {"dependencies": ["python=3.11", {"pip": pip}]}
code_dir = [os.path.abspath("threshold_model.py")]
with merlin.new_model_version() as version:
    merlin.log_param("kind", "pyfunc")
    merlin.log_pyfunc_model(model_instance=ThresholdModel(), conda_env=conda_env,
                            code_dir=code_dir, artifacts={"model": path})
endpoint = merlin.deploy(version, environment_name="local")
answer = requests.post(endpoint.url, json={"instances": X[:5].tolist()},
                       headers={"X-Caller": "compat"}, timeout=30)
seen["pyfunc"] = {"status": endpoint.status.value, "answer": answer.json(),
                  "own": clf.predict(X[:5]).tolist()}
merlin.undeploy(version, environment_name="local")

# Requirements no index can satisfy: the environment build fails, the deploy ends failed.
broken_env = {"dependencies": ["python=3.11", {"pip": ["scikit-learn==0.0.1", "joblib"]}]}
with merlin.new_model_version() as broken:
    merlin.log_pyfunc_model(model_instance=ThresholdModel(), conda_env=broken_env,
                            code_dir=code_dir, artifacts={"model": path})
try:
    merlin.deploy(broken, environment_name="local")
    seen["broken_env"] = None
except merlin.model.ModelEndpointDeploymentError as exc:
    seen["broken_env"] = str(exc)
print(json.dumps(seen))
