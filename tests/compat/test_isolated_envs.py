"""Isolation serves every model, not only Merlin's: an MLflow model whose recorded requirements
this server's environment lacks runs from its own environment (built once, then reused)."""
from __future__ import annotations

import os
from importlib import metadata

import httpx
import mlflow
import pytest

from tests.conftest import sklearn_model, unique

# A cold cache builds the model's virtualenv inside this test.
pytestmark = pytest.mark.timeout(900)


def test_mlflow_model_with_unmet_requirements_runs_in_its_own_environment(compat_plane):
    api = compat_plane.client()
    _, project = api.post("/projects", json={"name": unique("isolated")})
    _, model = api.post(f"/projects/{project['id']}/models",
                        json={"name": "plain", "type": "sklearn"})
    status, version = api.post(f"/models/{model['id']}/versions", json={})
    assert status == 201, version
    clf, sample = sklearn_model()
    os.environ["MLFLOW_TRACKING_TOKEN"] = compat_plane.token
    mlflow.set_tracking_uri(compat_plane.url + "merlin/mlflow")
    requirements = [f"mlflow=={metadata.version('mlflow')}",
                    f"scikit-learn=={metadata.version('scikit-learn')}",
                    "tomli-w"]  # small, and not installed here: this is what needs isolating
    with mlflow.start_run(run_id=version["mlflow_run_id"]):
        mlflow.sklearn.log_model(clf, name="model", pip_requirements=requirements)

    status, endpoint = api.post(f"/models/{model['id']}/versions/{version['id']}/endpoint",
                                json={"environment_name": "local"})
    assert status == 201, endpoint
    endpoint = api.wait_endpoint(model["id"], version["id"], endpoint["id"], timeout=300)
    assert endpoint["status"] == "running", endpoint["message"]

    answer = httpx.post(endpoint["url"], json={"instances": sample.tolist()}, timeout=30)
    assert answer.json() == {"predictions": clf.predict(sample).tolist()}
    path = f"/models/{model['id']}/versions/{version['id']}/endpoint/{endpoint['id']}"
    _, logs = api.get(path + "/logs", params={"tail": 2000})
    assert any("this server's environment lacks tomli-w" in line for line in logs["logs"])
    api.delete(path)
