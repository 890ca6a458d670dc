"""Local deploys end to end: a real control plane process, real model servers, real HTTP."""
from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import psutil
import pytest

from tests.conftest import code_model, log_code_version, log_version, sklearn_model

BROKEN_MODEL = '''
import mlflow


class Broken(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        raise RuntimeError("cannot reach the feature store at redis://features:6379")

    def predict(self, context, model_input):
        return model_input


mlflow.models.set_model(Broken())
'''


def deploy(api, model_id: int, version: int, **body) -> dict:
    status, endpoint = api.post(f"/models/{model_id}/versions/{version}/endpoint",
                                json={"environment_name": "local", **body})
    assert status == 201, endpoint
    return api.wait_endpoint(model_id, version, endpoint["id"])


def server_pid(url: str) -> int:
    """The model server's supervisor (its workers share the port and the process group)."""
    port = int(url.split(":")[2].split("/")[0])
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            return os.getpgid(conn.pid)
    raise AssertionError(f"nothing listens on {port}")


def test_deploy_serves_the_models_own_predictions(control_plane, live_api, live_model):
    api, model = live_api, live_model
    clf, sample = sklearn_model()
    log_version(control_plane, api, model["id"], clf, sample)
    endpoint = deploy(api, model["id"], 1)
    assert endpoint["status"] == "running", endpoint["message"]
    assert endpoint["url"].startswith("http://127.0.0.1:")
    assert endpoint["url"].endswith(f"/v1/models/{model['name']}-1:predict")
    response = httpx.post(endpoint["url"], json={"instances": sample.tolist()})
    assert response.status_code == 200
    assert response.json()["predictions"] == clf.predict(sample).tolist()
    # The same endpoint through Jupyter's authenticated proxy.
    proxied = httpx.post(
        f"{control_plane.url}merlin/serve/endpoints/{endpoint['id']}/v1/models/{model['name']}-1:predict",
        json={"instances": sample.tolist()}, headers=control_plane.headers,
    )
    assert proxied.status_code == 200 and proxied.json() == response.json()
    status, logs = api.get(f"/models/{model['id']}/versions/1/endpoint/{endpoint['id']}/logs?tail=50")
    assert status == 200 and logs["logs"]
    status, gone = api.delete(f"/models/{model['id']}/versions/1/endpoint/{endpoint['id']}")
    assert status == 200 and gone["status"] == "terminated"
    with pytest.raises(httpx.HTTPError):
        httpx.post(endpoint["url"], json={"instances": sample.tolist()}, timeout=2)
    assert api.delete(f"/models/{model['id']}/versions/1/endpoint/{endpoint['id']}")[0] == 200


def test_a_model_that_cannot_load_fails_with_the_reason_and_its_logs(control_plane, live_api, live_model, tmp_path):
    api, model = live_api, live_model
    version = log_code_version(control_plane, api, model["id"], BROKEN_MODEL, tmp_path, "broken_model.py")
    endpoint = deploy(api, model["id"], version["id"])
    assert endpoint["status"] == "failed"
    assert "cannot reach the feature store" in endpoint["message"]
    assert "Last log lines" in endpoint["message"]


def test_endpoints_survive_a_control_plane_restart(control_plane, live_api, live_model):
    api, model = live_api, live_model
    clf, sample = sklearn_model()
    for _ in range(2):
        log_version(control_plane, api, model["id"], clf, sample)
    kept = deploy(api, model["id"], 1)
    lost = deploy(api, model["id"], 2)
    kept_pid, lost_pid = server_pid(kept["url"]), server_pid(lost["url"])
    control_plane.stop()
    os.killpg(lost_pid, signal.SIGKILL)  # lost while nobody watched, e.g. a reboot
    control_plane.start()
    api = control_plane.client()
    again = api.wait_endpoint(model["id"], 1, kept["id"])
    assert again["status"] == "running" and server_pid(again["url"]) == kept_pid  # re-adopted
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # restarted after the crash, on the same URL
        restarted = api.wait_endpoint(model["id"], 2, lost["id"])
        try:
            now_pid = server_pid(restarted["url"])
        except AssertionError:
            now_pid = None
        if restarted["status"] == "running" and now_pid not in (None, lost_pid):
            break
        time.sleep(0.2)
    assert restarted["status"] == "running" and restarted["url"] == lost["url"]
    assert now_pid not in (None, lost_pid)
    response = httpx.post(restarted["url"], json={"instances": sample.tolist()})
    assert response.json()["predictions"] == clf.predict(sample).tolist()
    for endpoint, version in ((kept, 1), (lost, 2)):
        api.delete(f"/models/{model['id']}/versions/{version}/endpoint/{endpoint['id']}")


class SteadyLoad:
    """Clients posting one prediction after another while the block runs; failures are kept."""

    def __init__(self, url: str, body: dict, headers: dict | None = None, clients: int = 3):
        self.url, self.body, self.headers = url, body, headers or {}
        self.failures: list[str] = []
        self.answered = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def _run(self) -> None:
        with httpx.Client() as client:
            while not self._stop.is_set():
                try:
                    answer = client.post(self.url, json=self.body, headers=self.headers)
                    if answer.status_code != 200:
                        self.failures.append(answer.text)
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self.answered += 1

    def __enter__(self) -> "SteadyLoad":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def redeploy_until_the_old_revision_is_gone(api, model_id: int, endpoint: dict) -> dict:
    """PUT a changed endpoint, wait for the new revision to be live and the old server to exit."""
    old_pid = server_pid(endpoint["url"])
    path = f"/models/{model_id}/versions/1/endpoint/{endpoint['id']}"
    status, body = api.put(path, json={"env_vars": [{"name": "REVISION", "value": "2"}]})
    assert status == 200, body
    deadline = time.monotonic() + 60
    while True:
        current = api.get(path)[1]
        if current["revision"] > endpoint["revision"] and current["status"] in ("running", "serving") \
                and not psutil.pid_exists(old_pid):
            time.sleep(0.3)
            return current
        assert time.monotonic() < deadline and current["status"] != "failed", current
        time.sleep(0.1)


def test_a_redeploy_keeps_the_url_and_fails_no_request(control_plane, live_api, live_model):
    api, model = live_api, live_model
    clf, sample = sklearn_model()
    log_version(control_plane, api, model["id"], clf, sample)
    endpoint = deploy(api, model["id"], 1)
    # a new connection per request, so requests reach both revisions while they share the port
    with SteadyLoad(endpoint["url"], {"instances": sample.tolist()}, {"Connection": "close"}) as load:
        current = redeploy_until_the_old_revision_is_gone(api, model["id"], endpoint)
    assert current["url"] == endpoint["url"]
    assert load.failures == [] and load.answered > 20, (load.failures[:3], load.answered)


SLOW_SECOND_REVISION = '''
import os
import time

import mlflow


class SlowOnRevisionTwo(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        if os.environ.get("REVISION") == "2":
            time.sleep(600)  # e.g. a feature store that does not answer

    def predict(self, context, model_input):
        return [0] * len(model_input)


mlflow.models.set_model(SlowOnRevisionTwo())
'''


def test_a_redeploy_that_never_gets_ready_fails_and_the_old_revision_keeps_serving(tmp_path_factory):
    from tests.conftest import ControlPlaneProcess, _stop_model_servers

    cp = ControlPlaneProcess(tmp_path_factory.mktemp("slow-redeploy"),
                             extra_args=["--MerlinApp.pending_timeout=30"]).start()
    try:
        api = cp.client()
        model = code_model(cp, tmp_path_factory.mktemp("code"), "slow", SLOW_SECOND_REVISION)
        endpoint = deploy(api, model["id"], 1)
        assert endpoint["status"] == "running", endpoint["message"]

        path = f"/models/{model['id']}/versions/1/endpoint/{endpoint['id']}"
        assert api.put(path, json={"env_vars": [{"name": "REVISION", "value": "2"}]})[0] == 200
        deadline = time.monotonic() + 120
        while "Redeploy failed" not in (api.get(path)[1]["message"] or ""):
            assert time.monotonic() < deadline, api.get(path)[1]
            time.sleep(0.5)
        current = api.get(path)[1]
        assert current["status"] == "running" and current["url"] == endpoint["url"]
        assert "Revision 2 did not become ready within 30 s" in current["message"]
        answer = httpx.post(endpoint["url"], json={"instances": [[1.0]]})
        assert answer.status_code == 200 and answer.headers["X-Merlin-Server"] == str(server_pid(endpoint["url"]))
    finally:
        cp.stop()
        _stop_model_servers(cp.home)
