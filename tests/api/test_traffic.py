"""Model endpoints in the local environment: the router serves the model's stable URL."""
from __future__ import annotations

import signal
import time
from collections import Counter

import httpx
import psutil

from ..conftest import log_version, sklearn_model
from .test_deploy import SteadyLoad, deploy, redeploy_until_the_old_revision_is_gone


def serve(api, model_id: int, rule: dict, model_endpoint_id: int | None = None) -> dict:
    if model_endpoint_id is None:
        status, me = api.post(f"/models/{model_id}/endpoints", json={"environment_name": "local", "rule": rule})
        assert status == 201, me
    else:
        status, me = api.put(f"/models/{model_id}/endpoints/{model_endpoint_id}", json={"rule": rule})
        assert status == 200, me
    deadline = time.monotonic() + 30
    while me["status"] == "pending":
        assert time.monotonic() < deadline, me
        time.sleep(0.05)
        me = api.get(f"/models/{model_id}/endpoints/{me['id']}")[1]
    return me


def split(*pairs) -> dict:
    return {"destinations": [{"version_endpoint_id": e["id"], "weight": w} for e, w in pairs]}


def test_a_model_endpoint_splits_traffic_by_weight_and_follows_rule_changes(
        control_plane, live_api, live_project, live_model):
    api, model, path = live_api, live_model, f"{live_project['name']}/{live_model['name']}"
    clf, sample = sklearn_model()
    for _ in range(2):
        log_version(control_plane, api, model["id"], clf, sample)
    one, two = deploy(api, model["id"], 1), deploy(api, model["id"], 2)
    me = serve(api, model["id"], split((one, 50), (two, 50)))
    assert me["status"] == "serving", me
    assert me["url"].startswith("http://127.0.0.1:") and me["url"].endswith(f"/{path}"), me
    predict = me["url"] + "/v1/predict"
    seen = Counter()
    with httpx.Client() as client:
        for _ in range(100):
            answer = client.post(predict, json={"instances": sample.tolist()})
            assert answer.json()["predictions"] == clf.predict(sample).tolist()
            seen[answer.headers["X-Merlin-Version"]] += 1
    assert seen["1"] > 20 and seen["2"] > 20, seen
    assert api.get(f"/models/{model['id']}/versions/1/endpoint/{one['id']}")[1]["status"] == "serving"

    serve(api, model["id"], split((two, 100)), me["id"])
    assert httpx.post(predict, json={"instances": sample.tolist()}).headers["X-Merlin-Version"] == "2"
    # the endpoint no longer in the rule is running again, so it may be undeployed
    assert api.get(f"/models/{model['id']}/versions/1/endpoint/{one['id']}")[1]["status"] == "running"

    proxied = httpx.post(f"{control_plane.url}merlin/serve/models/{path}/v1/predict",
                         json={"instances": sample.tolist()}, headers=control_plane.headers)
    assert proxied.status_code == 200 and proxied.headers["X-Merlin-Version"] == "2"


def test_the_router_comes_back_after_a_restart_on_the_same_url(control_plane, live_api, live_model):
    api, model = live_api, live_model
    clf, sample = sklearn_model()
    log_version(control_plane, api, model["id"], clf, sample)
    me = serve(api, model["id"], split((deploy(api, model["id"], 1), 100)))
    port = int(me["url"].split(":")[2].split("/")[0])
    control_plane.stop()
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            psutil.Process(conn.pid).send_signal(signal.SIGKILL)  # lost while nobody watched
    control_plane.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            answer = httpx.post(me["url"] + "/v1/predict", json={"instances": sample.tolist()})
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "the router did not come back"
            time.sleep(0.1)
    assert answer.status_code == 200 and answer.json()["predictions"] == clf.predict(sample).tolist()


def test_a_redeploy_behind_a_model_endpoint_fails_no_request(control_plane, live_api, live_model):
    """Clients keep their connections to the router, the router keeps its to the model server:
    the old revision must still hand every request over to the new one."""
    api, model = live_api, live_model
    clf, sample = sklearn_model()
    log_version(control_plane, api, model["id"], clf, sample)
    endpoint = deploy(api, model["id"], 1)
    me = serve(api, model["id"], split((endpoint, 100)))
    with SteadyLoad(me["url"] + "/v1/predict", {"instances": sample.tolist()}) as load:  # keep-alive
        current = redeploy_until_the_old_revision_is_gone(api, model["id"], endpoint)
    assert load.failures == [] and load.answered > 20, (load.failures[:3], load.answered)
    assert current["status"] == "serving"
