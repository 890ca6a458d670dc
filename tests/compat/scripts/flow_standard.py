"""A Merlin notebook's flow for a standard-layout model (model.joblib), through merlin-sdk 0.50:
log, deploy, redeploy, route traffic to a first and a later version, page versions, stop, undeploy.
Prints one JSON line of what it saw."""
import json
import os
import tempfile

import requests
import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

from sdk_env import connect, merlin
from merlin.model import ModelType

connect()
seen = {
    "projects": [p.name for p in merlin.list_project()],
    "environments": [e.name for e in merlin.list_environment()],
    "default_environment": merlin.get_default_environment().name,
}
merlin.set_project(os.environ["COMPAT_PROJECT"])
merlin.set_model("iris-like", ModelType.SKLEARN)

rng = np.random.default_rng(0)
X = rng.random((60, 4))
rows = X[:5].tolist()


def train_and_log(threshold: float):
    clf = LogisticRegression().fit(X, (X[:, 0] > threshold).astype(int))
    model_dir = tempfile.mkdtemp()
    joblib.dump(clf, os.path.join(model_dir, "model.joblib"))
    with merlin.new_model_version() as version:
        merlin.log_param("threshold", threshold)
        merlin.log_metric("accuracy", 0.9)
        merlin.set_tag("team", "compat")
        merlin.log_model(model_dir=model_dir)
    return version, clf.predict(X[:5]).tolist()


def predict(url: str) -> list:
    response = requests.post(url, json={"instances": rows}, timeout=30)
    response.raise_for_status()
    return response.json()["predictions"]


v1, own1 = train_and_log(0.5)
seen["run"] = {"id": v1.mlflow_run_id, "model_id": merlin.active_model().id,
               "params": v1.get_run_data().params, "metrics": v1.get_run_data().metrics,
               "tags": {k: v for k, v in v1.list_tag().items() if not k.startswith("mlflow.")}}

e1 = merlin.deploy(v1, environment_name="local")
seen["deploy"] = {"status": e1.status.value, "url": e1.url, "predictions": predict(e1.url),
                  "own": own1}

# Deploying a running version again is Merlin's redeploy (PUT on the same endpoint), here
# with Merlin's request/response logger turned on.
from merlin.logger import Logger, LoggerConfig, LoggerMode  # noqa: E402

e1b = merlin.deploy(v1, environment_name="local",
                    logger=Logger(model=LoggerConfig(enabled=True, mode=LoggerMode.ALL)))
seen["redeploy"] = {"same_id": e1b.id == e1.id, "status": e1b.status.value,
                    "predictions": predict(e1b.url),
                    "logger": [e1b.logger.model.enabled, e1b.logger.model.mode.value]}

m1 = merlin.serve_traffic({e1b: 100}, environment_name="local")
# The SDK appends /v1/predict to the model endpoint's base URL itself.
seen["serve_first"] = {"url": m1.url, "predictions": predict(m1.url)}

v2, own2 = train_and_log(0.3)
e2 = merlin.deploy(v2, environment_name="local")
m2 = merlin.serve_traffic({e2: 100}, environment_name="local")  # GET + PUT of the model endpoint
seen["serve_later"] = {"same_model_endpoint": m2.id == m1.id, "own": own2,
                       "predictions": predict(m2.url)}
seen["model_endpoints"] = [{"id": m.id, "env": m.environment_name}
                           for m in merlin.list_model_endpoints()]
seen["version_endpoints"] = [{"id": e.id, "status": e.status.value} for e in v2.list_endpoint()]

# Cursor paging: a small page size makes list_version follow Next-Cursor.
model = merlin.active_model()
model._list_version_pagination.__func__.__defaults__ = (2, "", "")
seen["versions"] = sorted(v.id for v in model.list_version())

merlin.stop_serving_traffic(environment_name="local")
seen["after_stop"] = [m.status.value for m in merlin.list_model_endpoints()]
# Serving again after a stop (a notebook run twice) revives the stopped model endpoint.
m3 = merlin.serve_traffic({e2: 100}, environment_name="local")
seen["serve_again"] = {"same_model_endpoint": m3.id == m1.id, "predictions": predict(m3.url)}
merlin.stop_serving_traffic(environment_name="local")
merlin.undeploy(v1, environment_name="local")
merlin.undeploy(v2, environment_name="local")
seen["undeployed"] = [e.status.value for e in v1.list_endpoint() + v2.list_endpoint()]

# A version without a model: the deploy ends failed and the SDK raises its deployment error.
with merlin.new_model_version() as empty:
    merlin.log_param("empty", "yes")
try:
    merlin.deploy(empty, environment_name="local")
    seen["failed_deploy"] = None
except merlin.model.ModelEndpointDeploymentError as exc:
    seen["failed_deploy"] = str(exc)

print(json.dumps(seen))
