"""A user's server with MerlinApp.control_plane_url runs no control plane of its own: what it
answers when the team's cannot be reached (the forwarding itself runs in tests/team)."""
from __future__ import annotations

import json

import pytest

from tests.conftest import free_port


@pytest.fixture
def jp_server_config(jp_server_config):
    jp_server_config["MerlinApp"]["control_plane_url"] = f"http://127.0.0.1:{free_port()}/services/merlin"
    jp_server_config["MerlinApp"]["control_plane_token"] = "a-token-for-the-team-control-plane"
    return jp_server_config


async def test_an_unreachable_team_control_plane_is_said_in_words(jp_fetch, jp_serverapp):
    for path in (("api", "v1", "projects"), ("serve", "models", "churn", "clf", "v1", "predict")):
        response = await jp_fetch("merlin", *path, raise_error=False)
        assert response.code == 503, response.body
        message = json.loads(response.body)["error"]
        assert "The team's Merlin control plane at http://127.0.0.1:" in message
        assert "does not answer" in message and "Merlin service" in message
    assert "merlin" not in jp_serverapp.web_app.settings  # no control plane of its own here


async def test_without_a_session_nothing_is_forwarded(jp_fetch):
    response = await jp_fetch("merlin", "api", "v1", "projects", raise_error=False,
                              headers={"Authorization": ""})
    assert response.code == 401
