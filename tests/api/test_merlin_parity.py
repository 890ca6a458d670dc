"""Where this API answers as Merlin's does, because merlin-sdk relies on it: an endpoint's
embedded environment, model schemas, a version's MLflow run holding only its user's tags,
model observability echoed, and deleting versions and models."""
from __future__ import annotations

import httpx
import mlflow

from tests.conftest import log_version, sklearn_model

from .openapi_check import validate

SCHEMA = {
    "spec": {
        "feature_types": {"featureA": "float64", "featureB": "int64", "featureC": "string"},
        "model_prediction_output": {
            "output_class": "BinaryClassificationOutput", "prediction_score_column": "score",
            "actual_score_column": "actual", "positive_class_label": "yes",
            "negative_class_label": "no", "score_threshold": 0.7,
        },
    }
}


def call(api, method: str, path: str, **kw):
    status, body = api.request(method, path, **kw)
    if status != 204:
        validate(method, path, status, body)
    return status, body


def test_a_version_keeps_its_model_schema_and_the_model_lists_it(live_api, live_model):
    mid = live_model["id"]
    status, version = call(live_api, "POST", f"/models/{mid}/versions", json={"model_schema": SCHEMA})
    assert status == 201, version
    schema = version["model_schema"]
    assert schema["model_id"] == mid and schema["spec"] == SCHEMA["spec"]
    assert call(live_api, "GET", f"/models/{mid}/versions/1")[1]["model_schema"] == schema

    status, listed = call(live_api, "GET", f"/models/{mid}/schemas")
    assert status == 200 and listed == [schema]
    # Merlin's upsert: with the id it updates that schema, without one it adds another.
    changed = {**SCHEMA["spec"], "feature_types": {"featureA": "boolean"}}
    status, updated = call(live_api, "PUT", f"/models/{mid}/schemas", json={"id": schema["id"], "spec": changed})
    assert status == 200 and updated == {**schema, "spec": changed}
    assert call(live_api, "GET", f"/models/{mid}/versions/1")[1]["model_schema"]["spec"] == changed
    status, added = call(live_api, "PUT", f"/models/{mid}/schemas", json=SCHEMA)
    assert status == 200 and added["id"] != schema["id"]
    assert call(live_api, "GET", f"/models/{mid}/schemas/{added['id']}")[1] == added

    status, error = call(live_api, "PUT", f"/models/{mid}/schemas",
                         json={"spec": {"feature_types": {"age": "integer"}}})
    assert status == 400 and "'integer'" in error["error"] and "int64" in error["error"]
    status, error = call(live_api, "PUT", f"/models/{mid}/schemas",
                         json={"spec": {"model_prediction_output": {"output_class": "Clustering"}}})
    assert status == 400 and "RegressionOutput" in error["error"]
    status, error = call(live_api, "POST", f"/models/{mid}/versions",
                         json={"model_schema": {"spec": {"feature_types": {"age": "integer"}}}})
    assert status == 400 and "'integer'" in error["error"]
    assert [v["id"] for v in call(live_api, "GET", f"/models/{mid}/versions")[1]] == [1]

    assert call(live_api, "DELETE", f"/models/{mid}/schemas/{schema['id']}")[0] == 204
    status, error = call(live_api, "GET", f"/models/{mid}/schemas/{schema['id']}")
    assert status == 404 and f"GET /models/{mid}/schemas" in error["error"]
    assert call(live_api, "GET", f"/models/{mid}/versions/1")[1]["model_schema"] is None


def test_a_versions_mlflow_run_holds_only_the_tags_its_user_set(control_plane, live_api, live_model, monkeypatch):
    status, version = call(live_api, "POST", f"/models/{live_model['id']}/versions", json={})
    assert status == 201
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", control_plane.token)
    client = mlflow.MlflowClient(tracking_uri=control_plane.url + "merlin/mlflow")
    run = client.get_run(version["mlflow_run_id"])
    assert run.data.tags == {}
    assert run.info.run_name == f"{live_model['name']}-v1"  # still named in the MLflow UI
    client.set_tag(run.info.run_id, "team", "search")
    assert client.get_run(run.info.run_id).data.tags == {"team": "search"}


def test_endpoints_embed_their_environment_and_echo_model_observability(control_plane, live_api, live_model):
    mid = live_model["id"]
    clf, sample = sklearn_model()
    log_version(control_plane, live_api, mid, clf, sample)
    status, error = call(live_api, "POST", f"/models/{mid}/versions/1/endpoint",
                         json={"environment_name": "local", "enable_model_observability": "yes"})
    assert status == 400 and "true or false" in error["error"]
    status, endpoint = call(live_api, "POST", f"/models/{mid}/versions/1/endpoint",
                            json={"environment_name": "local", "enable_model_observability": True})
    assert status == 201 and endpoint["enable_model_observability"] is True
    assert endpoint["environment"]["name"] == "local" and endpoint["environment"]["is_default"] is True
    endpoint = live_api.wait_endpoint(mid, 1, endpoint["id"])
    assert endpoint["status"] == "running", endpoint["message"]
    assert call(live_api, "GET", f"/models/{mid}/versions/1")[1]["endpoints"][0]["environment"]["name"] == "local"

    status, route = call(live_api, "POST", f"/models/{mid}/endpoints", json={
        "environment_name": "local",
        "rule": {"destinations": [{"version_endpoint_id": endpoint["id"], "weight": 100}]}})
    assert status == 201 and route["environment"]["is_default"] is True
    # merlin-sdk posts to a model endpoint's url + /v1/predict.
    response = httpx.post(route["url"] + "/v1/predict", json={"instances": sample.tolist()}, timeout=30)
    assert response.status_code == 200, (route, response.text)
    assert response.json()["predictions"] == clf.predict(sample).tolist()

    # While the version serves, neither it nor its model can be deleted.
    status, error = call(live_api, "DELETE", f"/models/{mid}/versions/1")
    assert status == 409 and "undeploy it" in error["error"] and "local (serving)" in error["error"]
    status, error = call(live_api, "DELETE", f"/projects/{live_model['project_id']}/models/{mid}")
    assert status == 409 and "undeploy its versions first" in error["error"]
    assert call(live_api, "DELETE", f"/models/{mid}/endpoints/{route['id']}")[0] == 200
    assert call(live_api, "DELETE", f"/models/{mid}/versions/1/endpoint/{endpoint['id']}")[0] == 200

    # Ended, the version is deleted (Merlin answers with its id), its run in MLflow's trash.
    status, deleted = call(live_api, "DELETE", f"/models/{mid}/versions/1")
    assert status == 200 and deleted == 1
    status, error = call(live_api, "GET", f"/models/{mid}/versions/1")
    assert status == 404
    client = mlflow.MlflowClient(tracking_uri=control_plane.url + "merlin/mlflow")
    runs = client.search_runs([str(live_model["mlflow_experiment_id"])], run_view_type=2)  # deleted only
    assert len(runs) == 1


def test_deleting_a_model_takes_its_versions_and_schemas_and_frees_its_name(control_plane, live_api, live_model):
    mid, pid = live_model["id"], live_model["project_id"]
    assert call(live_api, "POST", f"/models/{mid}/versions", json={"model_schema": SCHEMA})[0] == 201
    status, deleted = call(live_api, "DELETE", f"/projects/{pid}/models/{mid}")
    assert status == 200 and deleted == mid
    assert call(live_api, "GET", f"/projects/{pid}/models/{mid}")[0] == 404
    assert call(live_api, "GET", f"/models/{mid}/schemas")[0] == 404
    status, again = call(live_api, "POST", f"/projects/{pid}/models",
                         json={"name": live_model["name"], "type": "sklearn"})
    assert status == 201
    status, version = call(live_api, "POST", f"/models/{again['id']}/versions", json={})
    assert status == 201 and version["id"] == 1 and version["model_schema"] is None
