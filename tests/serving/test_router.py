"""The local router in front of real model servers: weights, mirrors, atomic rule changes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
import pytest

from .conftest import ROOT, free_port

TOKEN = "router-test-token"
ROW = {"instances": [[5.1, 3.5, 1.4, 0.2]]}


def destination(server, version: int, weight: int = 0) -> dict:
    return {"base": server.url, "model_name": server.name, "version": version,
            "endpoint_id": f"ep-{version}", "weight": weight}


class Router:
    def __init__(self, tmp_path, port: int | None = None):
        self.rules, self.port = tmp_path / "routes.json", port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if not self.rules.exists():
            self.write({})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "merlin_jupyter.serving.router", "--rules", str(self.rules),
             "--port", str(self.port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=dict(os.environ, MERLIN_ROUTER_TOKEN=TOKEN))
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.url}/-/health")
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and self.proc.poll() is None, "router did not start"
                time.sleep(0.05)

    def write(self, routes: dict) -> None:
        tmp = self.rules.with_suffix(".tmp")
        tmp.write_text(json.dumps({"routes": routes}))
        os.replace(tmp, self.rules)

    def apply(self, routes: dict) -> None:
        self.write(routes)
        answer = httpx.post(f"{self.url}/-/reload", headers={"X-Merlin-Router-Token": TOKEN})
        assert answer.status_code == 200, answer.text

    def predict(self, key: str = "shop/iris", **kw) -> httpx.Response:
        return httpx.post(f"{self.url}/{key}/v1/predict", json=ROW, **kw)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def servers(model_dir, tmp_path_factory):
    from .conftest import Server

    logs = tmp_path_factory.mktemp("router-logs")
    started = [Server(str(model_dir / "iris"), f"iris-{n}", logs / f"{n}.log") for n in (1, 2)]
    yield [server.wait_ready() for server in started]
    for server in started:
        server.stop()


@pytest.fixture
def router(tmp_path):
    router = Router(tmp_path)
    yield router
    router.stop()


def requests_of(server) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("merlin_requests_total{") and 'status="200"' in line)


def test_weights_split_traffic_and_each_answer_names_its_version(servers, router):
    v1, v2 = servers
    router.apply({"shop/iris": {"destinations": [destination(v1, 1, 80), destination(v2, 2, 20)]}})
    seen = Counter()
    for _ in range(1000):
        answer = router.predict()
        assert answer.status_code == 200 and answer.json() == {"predictions": [0]}
        seen[answer.headers["X-Merlin-Version"]] += 1
    assert 750 <= seen["1"] <= 850 and seen["1"] + seen["2"] == 1000, seen  # 80/20 within 5 points (4 sigma)


def test_a_mirror_gets_a_copy_and_a_dead_mirror_changes_nothing(servers, router):
    v1, v2 = servers
    router.apply({"shop/iris": {"destinations": [destination(v1, 1, 100)],
                                "mirror": destination(v2, 2)}})
    before = requests_of(v2)
    assert all(router.predict().headers["X-Merlin-Version"] == "1" for _ in range(20))
    deadline = time.monotonic() + 5
    while requests_of(v2) < before + 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert requests_of(v2) == before + 20

    dead = {"base": f"http://127.0.0.1:{free_port()}", "model_name": "iris-3", "version": 3,
            "endpoint_id": "ep-3", "weight": 0}
    router.apply({"shop/iris": {"destinations": [destination(v1, 1, 100)], "mirror": dead}})
    assert all(router.predict().status_code == 200 for _ in range(20))


def test_replacing_the_rule_under_load_fails_no_request(servers, router):
    v1, v2 = servers
    only = {n: {"shop/iris": {"destinations": [destination(s, n, 100)]}} for n, s in ((1, v1), (2, v2))}
    router.apply(only[1])
    failures, answered, stop = [], Counter(), threading.Event()

    def load():
        with httpx.Client() as client:
            while not stop.is_set():
                answer = client.post(f"{router.url}/shop/iris/v1/predict", json=ROW)
                if answer.status_code != 200:
                    failures.append(answer.text)
                answered[answer.headers.get("X-Merlin-Version")] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for flip in range(20):
        router.apply(only[2 if flip % 2 == 0 else 1])
        time.sleep(0.02)
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == [] and answered["1"] and answered["2"], (failures[:3], answered)


def test_unknown_models_dead_destinations_and_strangers_get_words(servers, router):
    missing = router.predict("shop/nothing")
    assert missing.status_code == 404 and "serve_traffic" in missing.json()["error"]
    dead = {"base": f"http://127.0.0.1:{free_port()}", "model_name": "iris-9", "version": 9,
            "endpoint_id": "ep-9", "weight": 100}
    router.apply({"shop/iris": {"destinations": [dead]}})
    down = router.predict()
    assert down.status_code == 502 and "Version 9 of shop/iris did not answer" in down.json()["error"]
    stranger = httpx.post(f"{router.url}/-/reload", headers={"X-Merlin-Router-Token": "guess"})
    assert stranger.status_code == 403


def test_a_restarted_router_serves_the_rules_it_had(servers, tmp_path):
    v1, _ = servers
    first = Router(tmp_path)
    first.apply({"shop/iris": {"destinations": [destination(v1, 1, 100)]}})
    first.stop()
    again = Router(tmp_path, port=first.port)  # reads the rule file; nobody tells it anything
    try:
        answer = again.predict()
        assert answer.status_code == 200 and answer.headers["X-Merlin-Version"] == "1"
    finally:
        again.stop()
