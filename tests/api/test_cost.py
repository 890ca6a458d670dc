"""Local resources mean what they say: refused in words, enforced, or named as not enforced;
an idle endpoint with min_replica 0 scales to zero and still answers."""
from __future__ import annotations

import time

import httpx
import pytest

from merlin_jupyter_server.deployers import local_cgroups, local_limits
from tests.conftest import ControlPlaneProcess, _stop_model_servers, code_model, log_version, sklearn_model, unique
from tests.waiting import wait_until

GREEDY_MODEL = '''
import mlflow


class Greedy(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input):
        hoard = b"x" * (600 * 1024 * 1024)  # written, so the pages are really used
        return [len(hoard)]


mlflow.models.set_model(Greedy())
'''


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    """A control plane whose local endpoints scale to zero after 1 s without a request (and
    whose metrics of them are scraped every half second)."""
    home = tmp_path_factory.mktemp("merlin-cost")
    plane = ControlPlaneProcess(home, extra_args=["--MerlinApp.scale_to_zero_after=1",
                                                  "--MerlinApp.autoscale_window=2",
                                                  "--MerlinApp.metrics_interval=0.5"]).start()
    yield plane
    plane.stop()
    _stop_model_servers(home)


@pytest.fixture
def model(cp):
    api = cp.client()
    project = api.post("/projects", json={"name": unique("cost")})[1]
    return api.post(f"/projects/{project['id']}/models", json={"name": unique("m"), "type": "sklearn"})[1]


def endpoints(api, model) -> list:
    return api.get(f"/models/{model['id']}/versions/1/endpoint")[1]


def test_what_this_machine_cannot_run_is_refused_before_deploying(cp, model):
    api = cp.client()
    log_version(cp, api, model["id"], *sklearn_model())
    path = f"/models/{model['id']}/versions/1/endpoint"
    cores = local_limits.usable_cores()
    cases = [({"max_replica": cores + 1}, "resource_request.max_replica", f"at most {cores}"),
             ({"workers": cores + 1}, "resource_request.workers", f"at most {cores}")]
    if not local_limits.gpus():
        cases.append(({"gpu_request": "1", "gpu_name": "nvidia.com/gpu"}, "resource_request.gpu_request",
                      "this machine has none"))
    for request, field, words in cases:
        status, body = api.post(path, json={"environment_name": "local", "resource_request": request})
        assert status == 400, body
        assert body["field"] == field and words in body["error"], body
    assert endpoints(api, model) == []  # nothing was recorded, nothing started


def test_a_scaled_to_zero_endpoint_answers_its_first_request(cp, model):
    api = cp.client()
    clf, sample = sklearn_model()
    log_version(cp, api, model["id"], clf, sample)
    status, created = api.post(f"/models/{model['id']}/versions/1/endpoint", json={
        "environment_name": "local", "resource_request": {"min_replica": 0, "max_replica": 1}})
    assert status == 201, created
    # The deploy answer already says what is enforced here and what is not.
    assert any("autoscaled" in note for note in created["serving"]["enforced"]), created["serving"]
    assert isinstance(created["serving"]["unenforced"], list)
    endpoint = api.wait_endpoint(model["id"], 1, created["id"])
    assert endpoint["status"] == "running", endpoint["message"]
    path = f"/models/{model['id']}/versions/1/endpoint/{created['id']}"
    idle = wait_until(lambda: (lambda e: e if (e.get("serving") or {}).get("scaled_to_zero") else None)(
        api.get(path)[1]), 60, "the endpoint shown as scaled to zero")
    assert idle["status"] == "running" and idle["serving"]["workers"] == 0
    # The control plane's own scrapes and status checks do not wake it (each would start a
    # worker that loads the model): it stays asleep through a dozen scrape intervals.
    time.sleep(6)
    _, still = api.get(path)
    assert still["serving"]["scaled_to_zero"] and still["serving"]["wakes"] == 0, still["serving"]
    answer = httpx.post(endpoint["url"], json={"instances": sample.tolist()}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == clf.predict(sample).tolist()
    woke = wait_until(lambda: (lambda e: e if (e.get("serving") or {}).get("last_wake") else None)(
        api.get(path)[1]), 30, "the wake shown on the endpoint")
    assert woke["serving"]["wakes"] >= 1
    assert api.delete(path)[0] == 200


def test_fixed_workers_name_the_replica_range_as_not_enforced(cp, model):
    api = cp.client()
    log_version(cp, api, model["id"], *sklearn_model())
    status, created = api.post(f"/models/{model['id']}/versions/1/endpoint", json={
        "environment_name": "local", "resource_request": {"workers": 1, "min_replica": 1, "max_replica": 2}})
    assert status == 201, created
    assert any(note.startswith("min_replica/max_replica") for note in created["serving"]["unenforced"])
    if not local_cgroups.support().available:
        assert any("memory_request" in note and "not enforced here" in note
                   for note in created["serving"]["unenforced"]), created["serving"]
    api.wait_endpoint(model["id"], 1, created["id"])
    assert api.delete(f"/models/{model['id']}/versions/1/endpoint/{created['id']}")[0] == 200


@pytest.mark.skipif(not local_cgroups.support().available,
                    reason=f"no cgroups here: {local_cgroups.support().reason}")
def test_an_endpoint_over_its_memory_limit_fails_as_oomkilled(cp, tmp_path):
    api = cp.client()
    model = code_model(cp, tmp_path, "oom", GREEDY_MODEL)
    status, created = api.post(f"/models/{model['id']}/versions/1/endpoint", json={
        "environment_name": "local", "resource_request": {"memory_request": "256Mi"}})
    assert status == 201, created
    endpoint = api.wait_endpoint(model["id"], 1, created["id"])
    assert endpoint["status"] == "running", endpoint["message"]
    try:
        httpx.post(endpoint["url"], json={"instances": [[1]]}, timeout=30)
    except httpx.HTTPError:
        pass  # the worker is killed while it answers
    failed = api.wait_endpoint(model["id"], 1, created["id"], until=("failed",), timeout=60)
    assert failed["status"] == "failed", failed
    assert "OOMKilled (used more than 256Mi" in failed["message"], failed["message"]
