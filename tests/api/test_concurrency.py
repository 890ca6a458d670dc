"""Races decided by the database: concurrent requests over real HTTP against a real control plane.

Every burst is released at once by a barrier from its own thread and client, and the outcome is
asserted exactly: one winner per name, consecutive version numbers, at most two active endpoints
per version and environment with distinct revisions, and no 5xx at all.
"""
from __future__ import annotations

import collections
import threading
from typing import Any, Callable

import httpx
import pytest

from tests.conftest import ControlPlaneProcess, _stop_model_servers, database_url, log_version, unique

RACERS = 20
NAMES = 5  # names raced in one burst: more interleavings per burst
ROUNDS = 2  # bursts of the cheap creates: a race lost by luck in one is rarely lost in both
WRITES, WRITERS = 200, 8


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def cp(request, tmp_path_factory):
    """A control plane of this module's own: its bursts must not slow down other tests' servers.
    Every race runs on SQLite and on PostgreSQL (a throw-away cluster, tests/postgres.py)."""
    home = tmp_path_factory.mktemp("merlin-races")
    urls = database_url(request, home, request.param)
    url = next(urls)
    cp = ControlPlaneProcess(home, extra_args=[f"--MerlinApp.db_url={url}"] if request.param != "sqlite" else [])
    cp.start()
    yield cp
    cp.stop()
    _stop_model_servers(home)
    next(urls, None)  # drops the database


@pytest.fixture(scope="module")
def api(cp):
    return cp.client()


@pytest.fixture(scope="module")
def http(cp):
    """One client shared by every racer: its pool keeps a connection per racer open between
    bursts, so a released burst reaches the server at once (and a client costs ~0.1 s to make)."""
    limits = httpx.Limits(max_connections=NAMES * RACERS, max_keepalive_connections=NAMES * RACERS)
    with httpx.Client(base_url=cp.api_url, headers=cp.headers, timeout=120, limits=limits) as client:
        yield client


def burst(http: httpx.Client, requests: list[tuple[str, str, Any]]) -> list[tuple[int, Any]]:
    """Send ``(method, path, json)`` requests at the same moment, one thread each."""
    barrier = threading.Barrier(len(requests))
    results: list[tuple[int, Any]] = [(0, None)] * len(requests)

    def send(i: int, method: str, path: str, body: Any) -> None:
        barrier.wait()
        response = http.request(method, path, json=body)
        try:
            results[i] = (response.status_code, response.json())
        except ValueError:
            results[i] = (response.status_code, response.text)

    threads = [threading.Thread(target=send, args=(i, *r)) for i, r in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def counts(results: list[tuple[int, Any]]) -> dict[int, int]:
    return dict(sorted(collections.Counter(status for status, _ in results).items()))


def outcome(results: list[tuple[int, Any]]) -> str:
    """The counts, and the first answer of each status that was not expected."""
    firsts = {status: body for status, body in reversed(results) if status not in (200, 201, 409)}
    return f"{counts(results)} {firsts}"


def assert_conflicts_in_words(results: list[tuple[int, Any]], *words: str) -> None:
    for status, body in results:
        if status == 409:
            assert isinstance(body, dict) and all(w in body["error"] for w in words), body


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_one_project_name_has_exactly_one_winner(api, http, round_):
    names = [unique("race") for _ in range(NAMES)]
    results = burst(http, [("POST", "/projects", {"name": n}) for n in names for _ in range(RACERS)])
    for name in names:
        mine = [r for r in results if _named(r, name)]
        assert counts(mine) == {201: 1, 409: RACERS - 1}, outcome(results)
        assert len(api.get(f"/projects?name={name}")[1]) == 1
    assert_conflicts_in_words(results, "already exists")


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_one_environment_name_has_exactly_one_winner(api, http, tmp_path, round_):
    names = [unique("env") for _ in range(NAMES)]
    bodies = [{"name": n, "kubeconfig": str(tmp_path / "kubeconfig"), "context": n} for n in names]
    results = burst(http, [("POST", "/environments", b) for b in bodies for _ in range(RACERS)])
    for name in names:
        mine = [r for r in results if _named(r, name)]
        assert counts(mine) == {201: 1, 409: RACERS - 1}, outcome(results)
    assert_conflicts_in_words(results, "already exists")


def _named(result: tuple[int, Any], name: str) -> bool:
    status, body = result
    return body.get("name") == name if status == 201 else f"{name!r}" in str(body)


def test_one_model_name_has_one_winner_and_one_mlflow_experiment(cp, api, http):
    _, project = api.post("/projects", json={"name": unique("race")})
    name = unique("m")
    path = f"/projects/{project['id']}/models"
    results = burst(http, [("POST", path, {"name": name, "type": "sklearn"})] * RACERS)
    assert counts(results) == {201: 1, 409: RACERS - 1}, outcome(results)
    assert_conflicts_in_words(results, name, "already has a model")
    [model] = api.get(f"{path}?name={name}")[1]
    experiment = httpx.get(cp.url + "merlin/mlflow/api/2.0/mlflow/experiments/get-by-name",
                           params={"experiment_name": f"{project['name']}/{name}"}, headers=cp.headers)
    assert experiment.json()["experiment"]["experiment_id"] == str(model["mlflow_experiment_id"])


def test_distinct_model_names_all_succeed_at_once(api, http):
    _, project = api.post("/projects", json={"name": unique("race")})
    path = f"/projects/{project['id']}/models"
    results = burst(http, [("POST", path, {"name": f"model-{i}", "type": "sklearn"}) for i in range(RACERS)])
    assert counts(results) == {201: RACERS}, outcome(results)
    assert len({body["mlflow_experiment_id"] for _, body in results}) == RACERS


def new_model(api, name: str = "clf") -> dict[str, Any]:
    _, project = api.post("/projects", json={"name": unique("race")})
    status, model = api.post(f"/projects/{project['id']}/models", json={"name": name, "type": "sklearn"})
    assert status == 201, model
    return model


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_versions_get_consecutive_numbers(api, http, round_):
    model = new_model(api)
    path = f"/models/{model['id']}/versions"
    results = burst(http, [("POST", path, {"labels": {"racer": str(i)}}) for i in range(RACERS)])
    assert counts(results) == {201: RACERS}, outcome(results)
    assert sorted(body["id"] for _, body in results) == list(range(1, RACERS + 1))
    assert len({body["mlflow_run_id"] for _, body in results}) == RACERS


@pytest.fixture(scope="module")
def served(cp, api) -> tuple[int, int]:
    """(model id, version number) of a version with a real model, deployed by the tests below."""
    model = new_model(api)
    return model["id"], log_version(cp, api, model["id"])["id"]


def active(api, model_id: int, version: int) -> list[dict[str, Any]]:
    _, endpoints = api.get(f"/models/{model_id}/versions/{version}/endpoint")
    return [e for e in endpoints if e["status"] in ("pending", "running", "serving")]


def undeploy_all(api, model_id: int, version: int) -> None:
    for endpoint in api.get(f"/models/{model_id}/versions/{version}/endpoint")[1]:
        status, body = api.delete(f"/models/{model_id}/versions/{version}/endpoint/{endpoint['id']}")
        assert status == 200, body


def test_one_model_endpoint_per_environment_under_a_burst(api, http, served):
    model_id, version = served
    status, endpoint = api.post(f"/models/{model_id}/versions/{version}/endpoint",
                                json={"environment_name": "local"})
    assert status == 201, endpoint
    endpoint = api.wait_endpoint(model_id, version, endpoint["id"])
    assert endpoint["status"] == "running", endpoint["message"]
    rule = {"destinations": [{"version_endpoint_id": endpoint["id"], "weight": 100}]}
    path = f"/models/{model_id}/endpoints"
    try:
        # The first round creates the model endpoint, the later ones bring a stopped one back.
        for _ in range(3):
            results = burst(http, [("POST", path, {"environment_name": "local", "rule": rule})] * RACERS)
            assert counts(results) == {201: 1, 409: RACERS - 1}, outcome(results)
            assert_conflicts_in_words(results, "already has a model endpoint")
            [created] = [body for status, body in results if status == 201]
            assert [e["id"] for e in api.get(path)[1]] == [created["id"]]
            status, stopped = api.delete(f"{path}/{created['id']}")
            assert (status, stopped["status"]) == (200, "terminated"), stopped
    finally:
        for model_endpoint in api.get(path)[1]:
            api.delete(f"{path}/{model_endpoint['id']}")
        undeploy_all(api, model_id, version)


def test_concurrent_deploys_of_one_version_leave_exactly_two_active(api, http, served):
    model_id, version = served
    path = f"/models/{model_id}/versions/{version}/endpoint"
    try:
        results = burst(http, [("POST", path, {"environment_name": "local"})] * RACERS)
        assert counts(results) == {201: 2, 409: RACERS - 2}, outcome(results)
        assert_conflicts_in_words(results, "at most 2", "local")
        endpoints = active(api, model_id, version)
        assert len(endpoints) == 2
        assert len({e["revision"] for e in endpoints}) == 2
    finally:
        undeploy_all(api, model_id, version)


def test_concurrent_redeploys_each_get_their_own_revision(api, http):
    # No model is logged: nothing starts, and each revision fails or is superseded at once.
    model = new_model(api)
    _, version = api.post(f"/models/{model['id']}/versions", json={})
    base = f"/models/{model['id']}/versions/{version['id']}/endpoint"
    status, endpoint = api.post(base, json={"environment_name": "local"})
    assert status == 201, endpoint
    path = f"{base}/{endpoint['id']}"
    results = burst(http, [("PUT", path, {"env_vars": [{"name": "RACER", "value": str(i)}]})
                         for i in range(RACERS)])
    assert counts(results) == {200: RACERS}, outcome(results)
    revisions = sorted(body["revision"] for _, body in results)
    assert revisions == list(range(endpoint["revision"] + 1, endpoint["revision"] + RACERS + 1))
    assert api.get(path)[1]["revision"] == revisions[-1]
    undeploy_all(api, model["id"], version["id"])


def test_writes_during_deploys_never_answer_5xx(cp, api, http, served):
    """200 writes from 8 threads while an endpoint is deployed and undeployed over and over."""
    model_id, version = served
    project = api.post("/projects", json={"name": unique("load")})[1]
    target = api.post(f"/projects/{project['id']}/models", json={"name": "load", "type": "sklearn"})[1]
    writes: list[Callable[[httpx.Client, int], httpx.Response]] = [
        lambda c, i: c.post("/projects", json={"name": unique("w")}),
        lambda c, i: c.put(f"/projects/{project['id']}", json={"team": f"t{i}"}),
        lambda c, i: c.post(f"/models/{target['id']}/versions", json={}),
        lambda c, i: c.patch(f"/models/{model_id}/versions/{version}", json={"labels": {"i": str(i)}}),
    ]
    statuses: list[tuple[int, str]] = []
    stop = threading.Event()

    def deploy_loop() -> None:
        client = cp.client()
        path = f"/models/{model_id}/versions/{version}/endpoint"
        while not stop.is_set():
            status, body = client.post(path, json={"environment_name": "local"})
            if status == 201:
                status, body = client.delete(f"{path}/{body['id']}")
            if status >= 500:
                statuses.append((status, f"deploy: {body}"))

    def writer(t: int) -> None:
        for i in range(t, WRITES, WRITERS):
            response = writes[i % len(writes)](http, i)
            statuses.append((response.status_code, response.text))

    deployer = threading.Thread(target=deploy_loop)
    deployer.start()
    writers = [threading.Thread(target=writer, args=(t,)) for t in range(WRITERS)]
    try:
        for t in writers:
            t.start()
        for t in writers:
            t.join()
    finally:
        stop.set()
        deployer.join()
        undeploy_all(api, model_id, version)
    assert [s for s in statuses if s[0] >= 500] == []
    assert collections.Counter(s for s, _ in statuses) == collections.Counter(
        {201: WRITES // 2, 200: WRITES // 2})
