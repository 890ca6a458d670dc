"""API tests: a real Jupyter server with the extension, in the test's process (pytest-jupyter)."""
from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import database_url

# Modules (or tests) that run on both stores: ``pytestmark = BOTH_STORES``.
BOTH_STORES = pytest.mark.parametrize("store_db_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def store_db_url(request, tmp_path):
    """The in-process server's database: SQLite in its data_dir unless parametrized."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield ""  # MerlinApp's default
        return
    yield from database_url(request, tmp_path, backend)


@pytest.fixture
def jp_server_config(tmp_path, store_db_url):
    config = {
        "ServerApp": {"jpserver_extensions": {"merlin_jupyter_server": True}},
        "MerlinApp": {
            "data_dir": str(tmp_path / "merlin"),
            "environments": [
                {"name": "staging", "kubeconfig": str(tmp_path / "missing-kubeconfig"), "context": "staging"}
            ],
        },
    }
    if store_db_url:
        config["MerlinApp"]["db_url"] = store_db_url
    return config


class Api:
    """``await api("POST", "projects", {...})`` → (status, JSON body, headers)."""

    def __init__(self, jp_fetch):
        self.jp_fetch = jp_fetch

    async def __call__(self, method: str, path: str, body: Any = None, headers: dict | None = None,
                       raw: bytes | None = None) -> tuple[int, Any, Any]:
        kwargs: dict[str, Any] = {"method": method, "raise_error": False}
        if raw is not None:
            kwargs["body"] = raw
        elif body is not None:
            kwargs["body"] = json.dumps(body)
        elif method in ("POST", "PUT", "PATCH"):
            kwargs["body"] = b""
        if headers is not None:
            kwargs["headers"] = headers
        path, _, query = path.partition("?")
        if query:
            kwargs["params"] = dict(pair.split("=", 1) for pair in query.split("&"))
        parts = ["merlin", "api", "v1", *path.strip("/").split("/")]
        response = await self.jp_fetch(*parts, **kwargs)
        text = response.body.decode() if response.body else ""
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = text
        return response.code, data, response.headers


@pytest.fixture
def api(jp_fetch) -> Api:
    return Api(jp_fetch)
