"""Merlin's project membership in team mode, several users through the identity seam.

The server is a real Jupyter server with ``MerlinApp.team_mode`` on; its identity provider is
the test seam below, which returns the same user objects jupyterhub's own identity provider
does (``JupyterHubUser`` over the hub's user model), so only how the name is found differs.
"""
from __future__ import annotations

import json

import pytest
from jupyter_server.auth.identity import IdentityProvider
from jupyterhub.singleuser.extension import JupyterHubUser

from .openapi_check import validate

HUB_ADMINS = {"root"}


class TokenIsTheUser(IdentityProvider):
    """``Authorization: token <name>`` is the hub user <name>; root is a hub admin."""

    async def get_user(self, handler):
        scheme, _, name = handler.request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "token" or not name.isidentifier():
            return None
        handler._token_authenticated = True  # as for any token in a header: no XSRF check
        return JupyterHubUser({"name": name, "admin": name in HUB_ADMINS, "kind": "user"})


@pytest.fixture
def jp_server_config(jp_server_config):
    jp_server_config["ServerApp"]["identity_provider_class"] = f"{__name__}.TokenIsTheUser"
    jp_server_config["MerlinApp"]["team_mode"] = True
    return jp_server_config


@pytest.fixture
def as_user(jp_fetch):
    """``await as_user("bob", "GET", "projects")`` → (status, JSON body), as that hub user."""
    async def call(user: str, method: str, path: str, body=None):
        path, _, query = path.partition("?")
        response = await jp_fetch(
            "merlin", "api", "v1", *path.split("/"), method=method, raise_error=False,
            body=json.dumps(body) if body is not None else (b"" if method in ("POST", "PUT") else None),
            params=dict(pair.split("=", 1) for pair in query.split("&")) if query else None,
            headers={"Authorization": f"token {user}"},
            request_timeout=120,  # a version's MLflow run takes seconds on a loaded machine
        )
        return response.code, json.loads(response.body) if response.body else None
    return call


async def make_churn(as_user):
    """alice's project with one model and one version."""
    status, project = await as_user("alice", "POST", "projects", {"name": "churn"})
    assert status == 201, project
    status, model = await as_user("alice", "POST", f"projects/{project['id']}/models", {"name": "clf", "type": "sklearn"})
    assert status == 201, model
    status, version = await as_user("alice", "POST", f"models/{model['id']}/versions", {})
    assert status == 201, version
    return project, model


async def test_a_stranger_sees_nothing_and_a_reader_changes_nothing(as_user, jp_fetch):
    project, model = await make_churn(as_user)
    assert project["administrators"] == ["alice"]
    await stranger_sees_nothing(as_user, project, model)
    await prediction_refused(jp_fetch, "bob", 403, "not a member")
    await prediction_refused(jp_fetch, "alice", 404, "serves no traffic")  # a member is told why
    status, updated = await as_user("alice", "PUT", f"projects/{project['id']}", {"readers": ["bob"]})
    assert status == 200 and updated["readers"] == ["bob"], updated
    await reader_reads_and_changes_nothing(as_user, project, model)
    await prediction_refused(jp_fetch, "bob", 404, "serves no traffic")  # reaches the proxy now


async def stranger_sees_nothing(as_user, project, model):
    _, listed = await as_user("bob", "GET", "projects")
    assert [p["name"] for p in listed] == []
    _, listed = await as_user("alice", "GET", "projects")
    assert [p["name"] for p in listed] == ["churn"]
    for path in (f"projects/{project['id']}", f"projects/{project['id']}/models",
                 f"models/{model['id']}/versions", f"models/{model['id']}/endpoints"):
        status, body = await as_user("bob", "GET", path)
        assert status == 403, (path, body)
        assert "You (bob)" in body["error"] and "'churn'" in body["error"]
        assert "not a member" in body["error"] and "(alice)" in body["error"]
    _, events = await as_user("bob", "GET", "events")
    assert [e for e in events if e["project_id"] == project["id"]] == []
    _, events = await as_user("alice", "GET", f"events?project_id={project['id']}")
    assert {e["actor"] for e in events} == {"alice"}


async def reader_reads_and_changes_nothing(as_user, project, model):
    _, listed = await as_user("bob", "GET", "projects")
    assert [p["name"] for p in listed] == ["churn"]
    for path in (f"projects/{project['id']}/models", f"models/{model['id']}/versions",
                 f"models/{model['id']}/versions/1", f"models/{model['id']}/versions/1/endpoint",
                 f"models/{model['id']}/endpoints", f"models/{model['id']}/schemas"):
        status, body = await as_user("bob", "GET", path)
        assert status == 200, (path, body)
    writes = [
        ("POST", f"projects/{project['id']}/models", {"name": "other"}),
        ("POST", f"models/{model['id']}/versions", {}),
        ("POST", f"models/{model['id']}/versions/1/endpoint", {"environment_name": "local"}),
        ("DELETE", f"models/{model['id']}/versions/1/endpoint/00000000-0000-0000-0000-000000000000", None),
        ("POST", f"models/{model['id']}/endpoints", {"rule": {"destinations": []}}),
        ("PUT", f"projects/{project['id']}", {"readers": ["bob", "carol"]}),
        ("DELETE", f"projects/{project['id']}/models/{model['id']}", None),
    ]
    for method, path, body in writes:
        status, answer = await as_user("bob", method, path, body)
        assert status == 403, (method, path, answer)
        message = answer["error"]
        assert message.startswith("You (bob) cannot "), message
        assert "needs the administrator role, and you are a reader" in message
        assert "Ask one of its administrators (alice)" in message
    # Nothing was changed by any of them.
    _, project_now = await as_user("alice", "GET", f"projects/{project['id']}")
    assert project_now["readers"] == ["bob"]
    _, versions = await as_user("alice", "GET", f"models/{model['id']}/versions")
    assert len(versions) == 1


async def prediction_refused(jp_fetch, user: str, status: int, words: str) -> None:
    response = await jp_fetch("merlin", "serve", "models", "churn", "clf", "v1", "predict",
                              method="POST", body=b"{}", raise_error=False,
                              headers={"Authorization": f"token {user}"})
    assert response.code == status, response.body
    assert words in json.loads(response.body)["error"]


async def test_administrators_change_members_and_keep_one(as_user):
    status, project = await as_user("alice", "POST", "projects", {"name": "churn", "administrators": ["carol"]})
    assert status == 201 and project["administrators"] == ["alice", "carol"], project
    status, _ = await as_user("alice", "PUT", f"projects/{project['id']}", {"administrators": ["alice", "bob"]})
    assert status == 200
    status, body = await as_user("bob", "PUT", f"projects/{project['id']}", {"administrators": ["bob"]})
    assert status == 200, body  # bob administers it now, alice is gone
    status, body = await as_user("alice", "GET", f"projects/{project['id']}")
    assert status == 403
    status, body = await as_user("bob", "PUT", f"projects/{project['id']}", {"administrators": []})
    assert status == 400 and "at least one administrator" in body["error"]


async def test_hub_admins_manage_environments(as_user):
    assert await as_user("bob", "GET", "user") == (200, {"name": "bob", "hub_admin": False, "team_mode": True})
    assert await as_user("root", "GET", "user") == (200, {"name": "root", "hub_admin": True, "team_mode": True})
    validate("GET", "/user", 200, {"name": "root", "hub_admin": True, "team_mode": True})
    cluster = {"name": "prod", "host": "https://127.0.0.1:1"}
    status, body = await as_user("bob", "POST", "environments", cluster)
    assert status == 403 and "hub's admins" in body["error"], body
    status, body = await as_user("root", "POST", "environments", cluster)
    assert status == 201, body
    _, environments = await as_user("bob", "GET", "environments")
    assert "prod" in [e["name"] for e in environments]
