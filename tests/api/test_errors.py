"""Bad input is answered with a 4xx and a message a person can act on; never a 500."""
from __future__ import annotations

import pytest

from .conftest import BOTH_STORES
from .openapi_check import validate


@pytest.mark.parametrize(
    "method,path,body,status,words",
    [
        ("POST", "projects", {"name": "No Spaces"}, 400, "is not valid"),
        ("POST", "projects", {}, 400, "is not valid"),
        ("GET", "projects/abc", None, 400, "project_id must be a whole number"),
        ("GET", "projects/999", None, 404, "does not exist"),
        ("GET", "models/999/versions", None, 404, "Model 999 does not exist"),
        ("GET", "models/1/versions/1/endpoint/not-a-uuid", None, 404, "does not exist"),
        ("POST", "environments", {"name": "prod"}, 400, "names no cluster"),
        ("GET", "no/such/route", None, 404, "openapi.json"),
    ],
)
async def test_bad_requests_get_clear_errors(api, method, path, body, status, words):
    got, data, _ = await api(method, path, body)
    assert got == status, data
    assert words in data["error"]
    if path != "no/such/route":
        validate(method, "/" + path, got, data)


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe"])
async def test_malformed_bodies_are_400(api, raw):
    status, data, _ = await api("POST", "projects", raw=raw)
    assert status == 400 and "JSON" in data["error"]


@BOTH_STORES
async def test_duplicates_are_409_and_immutable_fields_400(api):
    assert (await api("POST", "projects", {"name": "dup-project"}))[0] == 201
    status, data, _ = await api("POST", "projects", {"name": "dup-project"})
    assert status == 409 and "already exists" in data["error"]
    _, project, _ = await api("GET", "projects?name=dup-project")
    pid = project[0]["id"]
    _, model, _ = await api("POST", f"projects/{pid}/models", {"name": "dup-model", "type": "pyfunc"})
    status, data, _ = await api("POST", f"projects/{pid}/models", {"name": "dup-model", "type": "pyfunc"})
    assert status == 409 and data["field"] == "name"
    await api("POST", f"models/{model['id']}/versions", {})
    status, data, _ = await api("PATCH", f"models/{model['id']}/versions/1", {"mlflow_run_id": "other"})
    assert status == 400 and "only labels" in data["error"]


async def test_unreachable_cluster_is_reported_not_raised(api):
    status, environments, _ = await api("GET", "environments")
    assert status == 200
    staging = next(e for e in environments if e["name"] == "staging")
    assert staging["reachable"] is False and staging["reachable_message"]
