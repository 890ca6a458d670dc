"""Merlin notebooks run unchanged (but for the URL and the token) with merlin-sdk 0.50.0."""
from __future__ import annotations

import pytest

# A cold cache builds virtualenvs (merlin-sdk's, then a model's) inside these tests.
pytestmark = pytest.mark.timeout(900)


def test_standard_layout_flow(sdk, merlin_project, compat_plane, monkeypatch):
    seen = sdk.run("flow_standard.py", COMPAT_PROJECT=merlin_project)
    _assert_flow(seen, merlin_project)
    # The MLflow 1.26 client logged into the store the rest of the product reads: version 1 is
    # that run, and this project's MLflow sees its params and metrics.
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", compat_plane.token)
    run = MlflowClient(tracking_uri=compat_plane.url + "merlin/mlflow").get_run(seen["run"]["id"])
    assert run.data.params == {"threshold": "0.5"} and run.data.metrics == {"accuracy": 0.9}
    _, version = compat_plane.client().get(f"/models/{seen['run']['model_id']}/versions/1")
    assert version["mlflow_run_id"] == seen["run"]["id"]


def _assert_flow(seen: dict, merlin_project: str) -> None:

    assert merlin_project in seen["projects"]
    assert "local" in seen["environments"] and seen["default_environment"] == "local"
    assert seen["run"]["params"] == {"threshold": "0.5"}
    assert seen["run"]["metrics"] == {"accuracy": 0.9}
    assert seen["run"]["tags"].get("team") == "compat"

    deploy = seen["deploy"]
    assert deploy["status"] == "running" and deploy["url"].endswith(":predict")
    assert deploy["predictions"] == deploy["own"]
    assert seen["redeploy"]["same_id"] and seen["redeploy"]["predictions"] == deploy["own"]
    assert seen["redeploy"]["logger"] == [True, "all"]
    assert seen["serve_first"]["predictions"] == deploy["own"]
    later = seen["serve_later"]
    assert later["same_model_endpoint"] and later["predictions"] == later["own"]
    assert [m["env"] for m in seen["model_endpoints"]] == ["local"]
    assert [e["status"] for e in seen["version_endpoints"]] == ["serving"]
    assert seen["versions"] == [1, 2]
    assert seen["after_stop"] in ([], ["terminated"])  # Merlin keeps it, terminated
    again = seen["serve_again"]
    assert again["same_model_endpoint"] and again["predictions"] == later["own"]
    assert set(seen["undeployed"]) == {"terminated"}
    assert seen["failed_deploy"] and "no model logged" in seen["failed_deploy"]


def test_pyfunc_model_in_its_own_environment(sdk, merlin_project, compat_plane):
    seen = sdk.run("flow_pyfunc.py", timeout=480, COMPAT_PROJECT=merlin_project)

    assert seen["xgboost_type"] == "xgboost"
    assert seen["onnx_type"].startswith("refused by the SDK")  # merlin-sdk 0.50's own client
    pyfunc = seen["pyfunc"]
    assert pyfunc["status"] == "running"
    # Merlin's PyFuncModel gets the body and the request headers, and answers as it likes.
    assert pyfunc["answer"] == {"predictions": pyfunc["own"], "caller": "compat"}
    assert "could not build the model's Python environment" in seen["broken_env"]
    assert "scikit-learn==0.0.1" in seen["broken_env"]
    # The environment's steps were recorded as events of the deploy.
    _, events = compat_plane.client().get("/events", params={"limit": 500})
    steps = [e["message"] for e in events if e["action"] == "progress"]
    assert any(step.startswith("threshold version 1 in local: ") for step in steps), steps
    assert any(step.startswith("threshold version 2 in local: building an isolated environment")
               for step in steps), steps
