"""Nothing under merlin/ answers without Jupyter's authentication."""
from __future__ import annotations

import re

import pytest

from merlin_jupyter_server.routes import route_table

def concrete(pattern: str) -> str:
    # Fill each capture group with a plausible id; the request must be refused before parsing.
    return re.sub(r"\([^)]*\)", "1", pattern.replace("/?(", "/("))


ROUTES = [concrete(pattern) for pattern, _ in route_table()]


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
async def test_every_route_and_verb_requires_authentication(jp_fetch, path, method):
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    response = await jp_fetch(
        *path.strip("/").split("/"), method=method, body=body, raise_error=False,
        headers={"Authorization": ""},
    )
    assert response.code in (401, 403, 405), (method, path, response.code)
    if response.code != 405:
        assert b"token" in response.body.lower() or b"forbidden" in response.body.lower()


async def test_token_and_bearer_headers_are_accepted(jp_fetch, jp_serverapp):
    token = jp_serverapp.identity_provider.token
    for scheme in ("token", "Bearer"):
        response = await jp_fetch("merlin", "api", "v1", "projects", headers={"Authorization": f"{scheme} {token}"})
        assert response.code == 200
