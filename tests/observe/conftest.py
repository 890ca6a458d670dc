"""A control plane that scrapes metrics every 0.5 s, real model servers and real bounded load."""
from __future__ import annotations

import threading
import time
from typing import Any, Iterator

import httpx
import pytest

from tests.conftest import ControlPlaneProcess, _stop_model_servers, log_code_version as _log_code, unique

INTERVAL = 0.5

# A pyfunc model that answers errors once the endpoint has answered FAIL_AFTER predictions
# (counted in a file, so across all of the model server's workers).
FAILS_AFTER = '''
import os

import mlflow


class FailsAfter(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input):
        limit = int(os.environ.get("FAIL_AFTER", "0"))
        if limit:
            fd = os.open(os.environ["COUNTER_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, b"x")
                count = os.fstat(fd).st_size
            finally:
                os.close(fd)
            if count > limit:
                raise RuntimeError(f"prediction {count}: the feature store stopped answering")
        return [0] * len(model_input)


mlflow.models.set_model(FailsAfter())
'''


@pytest.fixture(scope="session")
def observed(tmp_path_factory) -> Iterator[ControlPlaneProcess]:
    cp = ControlPlaneProcess(tmp_path_factory.mktemp("observed"),
                             extra_args=[f"--MerlinApp.metrics_interval={INTERVAL}"]).start()
    yield cp
    cp.stop()
    _stop_model_servers(cp.home)


@pytest.fixture
def pyfunc_model(observed, tmp_path) -> dict[str, Any]:
    api = observed.client()
    project = api.post("/projects", json={"name": unique("obs")})[1]
    status, model = api.post(f"/projects/{project['id']}/models", json={"name": unique("m"), "type": "pyfunc"})
    assert status == 201, model
    model["project"] = project
    return model


def log_code_version(cp: ControlPlaneProcess, model_id: int, code_dir) -> dict[str, Any]:
    return _log_code(cp, cp.client(), model_id, FAILS_AFTER, code_dir, "fails_after.py")


def deploy(api, model_id: int, version: int, env_vars: dict[str, str] | None = None) -> dict[str, Any]:
    body = {"environment_name": "local",
            "env_vars": [{"name": k, "value": v} for k, v in (env_vars or {}).items()]}
    status, endpoint = api.post(f"/models/{model_id}/versions/{version}/endpoint", json=body)
    assert status == 201, endpoint
    endpoint = api.wait_endpoint(model_id, version, endpoint["id"])
    assert endpoint["status"] == "running", endpoint["message"]
    return endpoint


def serve(api, model_id: int, endpoint: dict[str, Any]) -> dict[str, Any]:
    rule = {"destinations": [{"version_endpoint_id": endpoint["id"], "weight": 100}]}
    status, me = api.post(f"/models/{model_id}/endpoints", json={"environment_name": "local", "rule": rule})
    assert status == 201 and me["status"] == "serving", me
    return me


class Load:
    """Real HTTP requests from two threads, bounded in count and time; every answer recorded."""

    def __init__(self, url: str, seconds: float = 40.0, max_requests: int = 6000, threads: int = 2):
        self.url, self.seconds, self.max_requests, self.threads = url, seconds, max_requests, threads
        self.answers: list[tuple[float, int, str]] = []  # (time, status, X-Merlin-Version)
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def __enter__(self) -> "Load":
        deadline = time.monotonic() + self.seconds
        for _ in range(self.threads):
            worker = threading.Thread(target=self._run, args=(deadline,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def _run(self, deadline: float) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set() and time.monotonic() < deadline and len(self.answers) < self.max_requests:
                try:
                    answer = client.post(self.url, json={"instances": [[1.0, 2.0]]})
                    self.answers.append((time.monotonic(), answer.status_code, answer.headers.get("X-Merlin-Version", "")))
                except httpx.HTTPError:
                    self.answers.append((time.monotonic(), 0, ""))
                time.sleep(0.01)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(15)


def wait_rollout(api, path: str, until: tuple[str, ...], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, rollout = api.get(path)
        assert status == 200, rollout
        if rollout["status"] in until or time.monotonic() > deadline:
            return rollout
        time.sleep(0.1)
