"""Guarded rollouts on a Kubernetes environment: the VirtualService weights move in the emulated
cluster (real Istio schema), and the guard judges the versions on a real Prometheus (Debian's)
scraping real model servers that stand in for the predictors' pods (prometheus_kit.py).
"""
from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from merlin_jupyter_server.services import prometheus
from tests.conftest import ControlPlaneProcess, log_version

from .conftest import VS
from .prometheus_kit import SCRAPE, Prometheus, pod_labels, require_prometheus, save_model, start_server

NS, MODEL = "fraud", "scorer"
SENT = 60


@pytest.fixture(scope="module")
def model_servers(tmp_path_factory):
    """Version 1 healthy; version 2 answers errors after its 40th prediction."""
    require_prometheus()
    root = tmp_path_factory.mktemp("prometheus")
    uri = save_model(root, "fails_after")
    started = [start_server(uri, MODEL, root / "v1.log"),
               start_server(uri, MODEL, root / "v2.log",
                            {"FAIL_AFTER": "40", "COUNTER_FILE": str(root / "v2-count")})]
    try:
        yield root, [s.wait_ready() for s in started]
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def servers(model_servers):
    root, started = model_servers
    (root / "v2-count").write_bytes(b"")  # version 2 answers 40 more predictions, then fails
    return started


@pytest.fixture(scope="module")
def prom(model_servers):
    root, servers = model_servers
    targets = [(f"127.0.0.1:{s.port}", pod_labels(NS, f"{MODEL}-{v}-r1")) for v, s in enumerate(servers, 1)]
    found = Prometheus(root, targets).wait_ready()
    yield found
    found.stop()


def predict(server, good: bool = True) -> int:
    body = {"instances": [[1.0, 2.0]]} if good else {"instances": "not rows"}
    return httpx.post(server.predict_url, json=body, timeout=10).status_code


@pytest.mark.timeout(180)
@pytest.mark.asyncio
async def test_the_guards_promql_reads_a_real_prometheus_scraping_real_model_servers(servers, prom):
    v1, v2 = servers
    for server in servers:  # every series exists before the window, as on a server that ran a while
        assert predict(server) == 200 and predict(server, good=False) == 400
    for version in (1, 2):
        prom.wait_scraped(pod_labels(NS, f"{MODEL}-{version}-r1")["pod"])
    time.sleep(2 * SCRAPE)
    start = time.time()
    time.sleep(1.5 * SCRAPE)  # a scrape inside the window before the first request: none is missed
    answers = {1: [], 2: []}
    for _ in range(SENT):  # spread over several scrapes; version 2 fails from its 40th on
        answers[1].append(predict(v1))
        answers[2].append(predict(v2))
        time.sleep(0.05)
    time.sleep(3 * SCRAPE)
    end = time.time()
    assert answers[1].count(200) == SENT
    sent_errors = sum(1 for status in answers[2] if status >= 400)
    assert sent_errors > 0, answers[2]
    old = await prometheus.query_window(prom.url, NS, f"{MODEL}-1-r1", start, end)
    new = await prometheus.query_window(prom.url, NS, f"{MODEL}-2-r1", start, end)
    # increase() extrapolates to the window's edges: counts are near, ratios close.
    assert 0.75 * SENT <= old["requests"] <= 1.3 * SENT, old
    assert old["error_rate"] == 0, old
    assert new["error_rate"] == pytest.approx(sent_errors / SENT, abs=0.07), (new, sent_errors)
    assert 0 < old["p50_ms"] <= old["p99_ms"] < 5000, old
    series = await prometheus.query_series(prom.url, NS, f"{MODEL}-2-r1", start - 10, end, 1.0)
    assert series and max(p.get("rps") or 0 for p in series) > 0, series
    assert max(p.get("error_rate") or 0 for p in series) > 0.3, series
    nothing = await prometheus.query_window(prom.url, NS, f"{MODEL}-9-r1", start, end)
    assert nothing is None  # a revision nobody scraped: not judged, not zero


@pytest.fixture
def cluster_plane(tmp_path, kube, kserve_controller, kube_config_file, s3_endpoint, prom):
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    staging = {"name": "staging", "kubeconfig": str(kube_config_file), "context": "fake",
               "domain": "models.example.com", "deployment_mode": "serverless",
               "artifact_store": {"uri": "s3://models/merlin", "endpoint_url": s3_endpoint},
               "prometheus_url": prom.url}
    (home / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"MerlinApp": {"environments": [staging]}}))
    cp = ControlPlaneProcess(home, extra_args=["--MerlinApp.metrics_interval=0.5"]).start()
    yield cp
    cp.stop()


def split_weights(kube) -> list[tuple[int, str]]:
    """(weight, version) of the VirtualService's split; one version alone is routed straight to it."""
    routes = {r["name"]: r for r in kube.fake.get(VS, NS, MODEL)["spec"]["http"]}
    split = routes.get("split")
    if split is None:
        return [(100, name.removeprefix("version-")) for name in routes]
    return [(r.get("weight", 100), r["headers"]["request"]["set"]["x-merlin-version"]) for r in split["route"]]


def wait_for(get, done, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


@pytest.mark.timeout(300)
def test_a_rollout_on_kubernetes_moves_the_virtual_service_and_rolls_back_on_prometheus_numbers(
        cluster_plane, kube, servers):
    cp, (v1, v2) = cluster_plane, servers
    api = cp.client()
    project = api.post("/projects", json={"name": NS})[1]
    model = api.post(f"/projects/{project['id']}/models", json={"name": MODEL, "type": "sklearn"})[1]
    mid = model["id"]
    endpoints = []
    for version in (1, 2):
        log_version(cp, api, mid)
        status, created = api.post(f"/models/{mid}/versions/{version}/endpoint",
                                   json={"environment_name": "staging"})
        assert status == 201, created
        endpoints.append(created["id"])
    for version, endpoint_id in zip((1, 2), endpoints):
        endpoint = api.wait_endpoint(mid, version, endpoint_id, timeout=90)
        assert endpoint["status"] == "running", endpoint["message"]
    rule = {"destinations": [{"version_endpoint_id": endpoints[0], "weight": 100}]}
    status, me = api.post(f"/models/{mid}/endpoints", json={"environment_name": "staging", "rule": rule})
    assert status == 201, me
    base = f"/models/{mid}/endpoints/{me['id']}"
    wait_for(lambda: api.get(base)[1], lambda m: m["status"] == "serving", 30)

    status, rollout = api.post(base + "/rollouts", json={
        "version": 2, "steps": [25, 100], "bake": "60s", "guard": {"error_rate": 0.05}, "min_requests": 10})
    assert status == 201 and rollout["weight"] == 25, rollout
    path = f"{base}/rollouts/{rollout['id']}"
    assert wait_for(lambda: split_weights(kube), lambda w: w == [(75, "1"), (25, "2")], 30) == \
        [(75, "1"), (25, "2")]

    # The mesh would send a quarter of the requests to version 2; here they go to the pods' stand-ins.
    stop, first_error = threading.Event(), []

    def load() -> None:
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            for server in (v1, v1, v1, v2):
                if predict(server) >= 400 and not first_error:
                    first_error.append(time.monotonic())
            time.sleep(0.05)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    try:
        done = wait_for(lambda: api.get(path)[1], lambda r: r["status"] != "running", 60)
        rolled_back_at = time.monotonic()
    finally:
        stop.set()
        worker.join(15)
    assert done["status"] == "rolled_back", done
    print(f"\nrolled back {rolled_back_at - first_error[0]:.2f} s after version 2's first error "
          f"(Prometheus scrape {SCRAPE} s, control plane interval 0.5 s)")
    assert "error_rate of version 2" in done["message"] and "threshold 0.05" in done["message"], done
    assert wait_for(lambda: split_weights(kube), lambda w: w == [(100, "1")], 30) == [(100, "1")]
    events = api.get(f"/events?model_id={mid}&limit=50")[1]
    assert any(e["action"] == "rollout_rolled_back" for e in events), events[:5]
    # The same Prometheus answers the charts: version 2's error rate over time.
    status, metrics = api.get(f"/models/{mid}/versions/2/endpoint/{endpoints[1]}/metrics?since=5m&step=5s")
    assert status == 200 and metrics["source"] == "prometheus", metrics
    assert max(p.get("error_rate") or 0 for p in metrics["points"]) > 0.05, metrics["points"][-4:]
