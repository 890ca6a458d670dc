"""The API's shapes: Merlin's v1 conventions, and every route and answer true to openapi.json."""
from __future__ import annotations

import re

from openapi_spec_validator import validate as validate_spec

from merlin_jupyter_server.routes import API_ROUTES

from .conftest import BOTH_STORES
from .openapi_check import DOC, validate


async def test_openapi_document_is_valid_and_lists_every_route(api):
    status, served, _ = await api("GET", "openapi.json")
    assert status == 200
    validate_spec(served)
    registered = {re.sub(r"\(\[\^/\]\+\)", "{}", p[len("/merlin/api/v1"):]) for p, _ in API_ROUTES}
    documented = {re.sub(r"\{[^}]+\}", "{}", p) for p in DOC["paths"]}
    assert registered == documented


@BOTH_STORES
async def test_a_whole_flow_answers_as_documented(api):
    calls = []

    async def call(method, path, body=None, **kw):
        status, data, headers = await api(method, path, body, **kw)
        validate(method, "/" + path, status, data)
        calls.append((method, path, status))
        return status, data, headers

    await call("GET", "environments")
    status, project, headers = await call("POST", "projects", {"name": "contract-project"})
    assert status == 201 and isinstance(project["id"], int)
    assert headers["Location"].endswith(f"/projects/{project['id']}")
    pid = project["id"]
    await call("GET", f"projects/{pid}")
    await call("PUT", f"projects/{pid}", {"team": "search"})
    status, listed, _ = await call("GET", "projects", None)
    assert [p["name"] for p in listed] == ["contract-project"]
    status, model, _ = await call("POST", f"projects/{pid}/models", {"name": "ranker", "type": "SKLEARN"})
    assert status == 201 and model["type"] == "sklearn" and isinstance(model["mlflow_experiment_id"], int)
    mid = model["id"]
    await call("GET", f"projects/{pid}/models")
    await call("GET", f"projects/{pid}/models/{mid}")
    # Merlin's client sends JSON bodies without a Content-Type.
    status, version, _ = await call("POST", f"models/{mid}/versions", None,
                                    raw=b'{"labels": {"stage": "dev"}, "python_version": "3.11"}')
    assert status == 201 and version["id"] == 1 and version["labels"] == {"stage": "dev"}
    assert version["python_version"] == "3.11" and version["mlflow_run_id"]
    await call("POST", f"models/{mid}/versions", {})
    status, page, headers = await call("GET", f"models/{mid}/versions?limit=1")
    assert [v["id"] for v in page] == [2] and headers["Next-Cursor"] == "2"
    await call("GET", f"models/{mid}/versions/1")
    await call("PATCH", f"models/{mid}/versions/1", {"labels": {"stage": "prod"}})
    # No model was logged into the run: the deploy fails, in words, without starting anything.
    status, endpoint, _ = await call("POST", f"models/{mid}/versions/1/endpoint", {"environment_name": "local"})
    assert status == 201 and endpoint["status"] == "pending"
    assert re.match(r"^[0-9a-f-]{36}$", endpoint["id"])
    eid = endpoint["id"]
    for _ in range(200):
        status, endpoint, _ = await call("GET", f"models/{mid}/versions/1/endpoint/{eid}")
        if endpoint["status"] != "pending":
            break
        await asyncio_sleep(0.05)
    assert endpoint["status"] == "failed" and "has no model logged" in endpoint["message"]
    await call("GET", f"models/{mid}/versions/1/endpoint")
    await call("GET", f"models/{mid}/versions/1/endpoint/{eid}/logs?tail=10")
    await call("GET", f"models/{mid}/endpoints")
    status, _, _ = await call("DELETE", f"models/{mid}/versions/1/endpoint/{eid}")
    assert status == 200
    status, events, _ = await call("GET", f"events?model_id={mid}")
    assert {"create", "deploy", "failed", "undeploy", "terminated"} <= {e["action"] for e in events}


async def asyncio_sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
