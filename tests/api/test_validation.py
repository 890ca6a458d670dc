"""Hostile and nonsensical input is refused with a 400 that names the field, never stored or a 500."""
from __future__ import annotations

import json

import pytest

from .openapi_check import validate

BIG = 2**63  # one past what a SQLite INTEGER holds


async def make_version(api):
    """A project, a model and a version without a model logged: ids for the routes below."""
    status, project, _ = await api("POST", "projects", {"name": "validation-project"})
    assert status == 201, project
    # The first model starts the hosted MLflow server, which takes a while on a busy machine.
    response = await api.jp_fetch("merlin", "api", "v1", "projects", str(project["id"]), "models",
                                  method="POST", body=json.dumps({"name": "checked", "type": "sklearn"}),
                                  request_timeout=180)
    model = json.loads(response.body)
    status, version, _ = await api("POST", f"models/{model['id']}/versions", {})
    assert status == 201, version
    return {"pid": project["id"], "mid": model["id"], "v": version["id"]}


async def refused(api, method, path, body=None, field=None, words="", raw=None, status=400):
    got, data, _ = await api(method, path, body, raw=raw)
    assert got == status, (path, body, data)
    if field is not None:
        assert data["field"] == field, data
        assert field.rsplit(".", 1)[-1] in data["error"] or field == "labels", data
    assert words in data["error"], data
    validate(method, "/" + path.split("?")[0], got, data)
    return data


async def test_names_must_match_whole(api):
    for path, body, field in [
        ("projects", {"name": "abc\n"}, "name"),
        ("projects", {"name": "abc-"}, "name"),
        ("environments", {"name": "prod\n", "host": "https://k8s"}, "name"),
    ]:
        await refused(api, "POST", path, body, field, "is not valid")
    version = await make_version(api)
    await refused(api, "POST", f"projects/{version['pid']}/models", {"name": "churn\n"}, "name")
    _, models, _ = await api("GET", f"projects/{version['pid']}/models")
    assert [m["name"] for m in models] == ["checked"]


async def test_numbers_and_bodies_the_store_cannot_hold_are_refused(api):
    for path, field in [
        (f"projects/{BIG}", "project_id"),
        (f"projects/{BIG * 1000}/models", "project_id"),
        ("projects/0", "project_id"),
        ("projects/-1", "project_id"),
        ("projects/1_0", "project_id"),
        (f"models/1/versions/{BIG}", "version_id"),
        (f"models/1/endpoints/{BIG}", "model_endpoint_id"),
        (f"models/1/versions?cursor={BIG}", "cursor"),
        ("models/1/versions?limit=0", "limit"),
        (f"events?project_id={BIG}", "project_id"),
        (f"events?model_id={BIG}", "model_id"),
        ("events?limit=%2B5", "limit"),
    ]:
        await refused(api, "GET", path, field=field, words="whole number")
    for raw, words in [
        (b'{"name": "nan-project", "team": NaN}', "NaN"),
        (b'{"name": "inf-project", "team": Infinity}', "Infinity"),
        (b'{"name": "big-project", "team": 1e400}', "finite"),
        (b'{"name": "big-project", "team": 99999999999999999999}', "team must be a string"),
        (b'{"name": "big-project", "team": ' + b"9" * 5000 + b"}", "too large"),
        (b"[" * 1000 + b"]" * 1000, "nested"),
        (b'{"a": ' * 1000 + b"1" + b"}" * 1000, "nested"),
        (b'{"a": ' * 100000 + b"1" + b"}" * 100000, "nested"),
        (b'{"name": "\\ud800x"}', "Unicode"),
    ]:
        await refused(api, "POST", "projects", raw=raw, words=words)
    raw = json.dumps({"name": "huge-project", "team": "x" * (1024 * 1024)}).encode()
    await refused(api, "POST", "projects", raw=raw, words="1 MiB", status=413)


async def test_requests_have_the_documented_shape(api):
    version = await make_version(api)
    await refused(api, "PATCH", f"models/{version['mid']}/versions/1", raw=b"", words="needs a JSON object")
    await refused(api, "POST", f"models/{version['mid']}/endpoints", raw=b"", words="needs a JSON object")
    await refused(api, "POST", f"models/{version['mid']}/versions/1/endpoint?dry_run=maybe", {},
                  "dry_run", "true or false")

    for env in ("staging", "local"):
        path = f"models/{version['mid']}/versions/1/endpoint?dry_run=true"
        got, data, _ = await api("POST", path, {"environment_name": env})
        assert got == 409 and "has no model logged" in data["error"], data


DEPLOY_CASES = [
    ({"resource_request": {"workers": 1000000}}, "resource_request.workers", "from 0 to 64"),
    ({"resource_request": {"max_replica": 101}}, "resource_request.max_replica", "from 0 to 100"),
    ({"resource_request": {"min_replica": True}}, "resource_request.min_replica", "whole number"),
    ({"resource_request": {"min_replica": "1"}}, "resource_request.min_replica", "whole number"),
    ({"resource_request": {"min_replica": 1.5}}, "resource_request.min_replica", "whole number"),
    ({"resource_request": {"min_replica": 2**64}}, "resource_request.min_replica", "from 0 to 100"),
    ({"resource_request": {"workers": 1e400}}, None, "finite"),
    ({"resource_request": {"cpu_request": "99999999999999999999"}}, "resource_request.cpu_request", "at most 999"),
    ({"resource_request": {"cpu_request": "500m\n"}}, "resource_request.cpu_request", "CPU quantity"),
    ({"resource_request": {"cpu_request": "1e3"}}, "resource_request.cpu_request", "CPU quantity"),
    ({"resource_request": {"memory_request": "99999999999Ti"}}, "resource_request.memory_request", "10Ti"),
    ({"resource_request": {"memory_request": "1 Gi"}}, "resource_request.memory_request", "memory quantity"),
    ({"resource_request": {"gpu_request": "lots"}}, "resource_request.gpu_request", "whole number"),
    ({"env_vars": [{"name": f"V{i}", "value": "x"} for i in range(101)]}, "env_vars", "at most 100"),
    ({"env_vars": [{"name": "OK\n", "value": "x"}]}, "env_vars", "is not valid"),
    ({"env_vars": [{"name": "N", "value": 5}]}, "env_vars", "must be a string"),
    ({"autoscaling_policy": {"metrics_type": "rps", "target_value": "10"}}, "autoscaling_policy.target_value", "number"),
    ({"autoscaling_policy": {"metrics_type": "rps", "target_value": 1e9}}, "autoscaling_policy.target_value", "at most"),
    ({"autoscaling_policy": {"metrics_type": "cpu_utilization", "target_value": 150}},
     "autoscaling_policy.target_value", "percentage"),
    ({"deployment_mode": 0}, "deployment_mode", "not supported"),
    ({"environment_name": {"name": "local"}}, "environment_name", "is not valid"),
]


async def test_deploy_settings_are_bounded_in_words(api):
    version = await make_version(api)
    for body, field, words in DEPLOY_CASES:
        path = f"models/{version['mid']}/versions/1/endpoint"
        await refused(api, "POST", path, body, field, words)
        _, endpoints, _ = await api("GET", path)
        assert endpoints == []  # nothing was recorded
    # (A GPU request is refused locally on a machine without one: tests/api/test_cost.py.)
    request = {"min_replica": 0, "max_replica": 3, "cpu_request": "1.5", "memory_request": "1536Mi",
               "workers": 1, "gpu_name": "nvidia.com/gpu"}
    status, endpoint, _ = await api("POST", f"models/{version['mid']}/versions/1/endpoint",
                                    {"resource_request": request, "environment_name": "local"})
    assert status == 201, endpoint
    assert {k: endpoint["resource_request"][k] for k in request} == request


async def test_labels_follow_kubernetes_syntax(api):
    version = await make_version(api)
    for labels, words in [
        ({"bad key": "v"}, "label key"),
        ({"stage": "dev\n"}, "label value"),
        ({"stage": "x" * 64}, "label value"),
        ({"stage": 5}, "label value"),
        ({"-stage": "v"}, "label key"),
        ({f"k{i}": "v" for i in range(65)}, "at most 64"),
    ]:
        await refused(api, "POST", f"models/{version['mid']}/versions", {"labels": labels}, "labels", words)
        await refused(api, "PATCH", f"models/{version['mid']}/versions/1", {"labels": labels}, "labels", words)
        body = {"labels": [{"key": k, "value": v} for k, v in labels.items()]}
        await refused(api, "PUT", f"projects/{version['pid']}", body, "labels", words)
    labels = {"example.com/stage": "prod", "owner": "", "v": "1.2_rc-3"}
    status, patched, _ = await api("PATCH", f"models/{version['mid']}/versions/1", {"labels": labels})
    assert status == 200 and patched["labels"] == labels


async def test_version_fields_have_types_and_the_run_is_never_the_clients(api):
    version = await make_version(api)
    for body, field in [
        ({"python_version": "3.11\n"}, "python_version"),
        ({"python_version": 3.11}, "python_version"),
        ({"properties": [1, 2]}, "properties"),
    ]:
        await refused(api, "POST", f"models/{version['mid']}/versions", body, field)
    for field in ["mlflow_run_id", "artifact_uri"]:
        body = {field: "/any/dir" if field == "artifact_uri" else "0" * 32}
        await refused(api, "POST", f"models/{version['mid']}/versions", body, field, "set by the control plane")
        status, versions, _ = await api("GET", f"models/{version['mid']}/versions")
        assert status == 200 and all(v["artifact_uri"] != "/any/dir" for v in versions)
        count = len(versions)
        # An empty value (a client echoing an unset field) is not a choice, and is ignored.
        status, created, _ = await api("POST", f"models/{version['mid']}/versions", {field: None})
        assert status == 201 and created["artifact_uri"] != "/any/dir" and created["id"] == count + 1


async def test_project_fields_have_types(api):
    version = await make_version(api)
    for body, field in [
        ({"team": 5}, "team"),
        ({"team": "a\nb"}, "team"),
        ({"administrators": "alice"}, "administrators"),
        ({"administrators": [f"u{i}" for i in range(101)]}, "administrators"),
        ({"mlflow_tracking_url": ["http://x"]}, "mlflow_tracking_url"),
    ]:
        await refused(api, "PUT", f"projects/{version['pid']}", body, field)


async def test_environment_settings_have_types(api):
    for body, field in [
        ({"name": "typed", "host": "https://k8s", "status_interval": "fast"}, "status_interval"),
        ({"name": "typed", "host": "https://k8s", "pending_timeout": 1e400}, None),
        ({"name": "typed", "host": 7}, "host"),
        ({"name": "typed", "host": "https://k8s", "in_cluster": "yes"}, "in_cluster"),
        ({"name": "typed", "host": "https://k8s", "artifact_store": "s3://x"}, "artifact_store"),
        ({"name": "typed", "host": "https://k8s", "default_resource_request": {"workers": -1}},
         "resource_request.workers"),
    ]:
        await refused(api, "POST", "environments", body, field)


def test_the_document_states_the_servers_rules():
    """openapi.yaml repeats services/validation.py's patterns and caps; they must not drift."""
    from merlin_jupyter_server.routes.openapi import spec
    from merlin_jupyter_server.services import validation as v

    schemas = spec()["components"]["schemas"]
    request = schemas["ResourceRequestInput"]["properties"]
    assert schemas["ProjectName"]["pattern"] == f"^{v.RFC1123.pattern}$"
    assert schemas["EnvironmentName"]["pattern"] == f"^{v.RFC1123.pattern}$"
    assert schemas["ModelName"]["pattern"] == f"^{v.MODEL_NAME.pattern}$"
    assert schemas["CpuQuantity"]["pattern"] == f"^({v.CPU.pattern})$"
    assert schemas["MemoryQuantity"]["pattern"] == f"^({v.MEMORY.pattern})$"
    assert schemas["LabelKey"]["pattern"] == f"^({v.LABEL_PREFIX.pattern}/)?{v.LABEL_NAME.pattern}$"
    assert schemas["LabelValue"]["pattern"] == f"^({v.LABEL_NAME.pattern})?$"
    assert schemas["PythonVersion"]["pattern"] == f"^({v.PYTHON_VERSION.pattern})?$"
    assert schemas["EnvVars"]["items"]["properties"]["name"]["pattern"] == f"^{v.ENV_VAR.pattern}$"
    assert request["gpu_name"]["anyOf"][0]["pattern"] == f"^{v.GPU_RESOURCE.pattern}$"
    assert schemas["Labels"]["maxProperties"] == v.MAX_LABELS
    assert schemas["EnvVars"]["maxItems"] == v.MAX_ENV_VARS
    assert request["workers"]["maximum"] == v.MAX_WORKERS
    assert request["min_replica"]["maximum"] == request["max_replica"]["maximum"] == v.MAX_REPLICAS
    assert schemas["Id"]["maximum"] == v.MAX_INT
