"""`jupyter merlin`: the same control plane without the notebook UI, one per data directory."""
from __future__ import annotations

import httpx
import pytest

from tests.conftest import ControlPlaneProcess


def test_standalone_control_plane_serves_the_api_alone(tmp_path):
    cp = ControlPlaneProcess(tmp_path, app="merlin").start()
    try:
        api = cp.client()
        assert api.post("/projects", json={"name": "headless"})[0] == 201
        assert httpx.get(cp.url + "lab", headers=cp.headers).status_code == 404
        second = ControlPlaneProcess(tmp_path, app="merlin")
        with pytest.raises(RuntimeError, match="already manages"):
            second.start(timeout=60)
        assert api.get("/projects?name=headless")[1][0]["name"] == "headless"
    finally:
        cp.stop()
