"""Alerts fire and resolve on live metrics; the SDK's metrics() is a DataFrame drawn as charts."""
from __future__ import annotations

import time

import merlin_jupyter as merlin
from merlin_jupyter import observe

from .conftest import Load, deploy, log_code_version, serve


def wait_for(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_an_alert_fires_and_resolves_and_metrics_draw_as_charts(observed, pyfunc_model, tmp_path):
    api, model = observed.client(), pyfunc_model
    log_code_version(observed, model["id"], tmp_path)
    endpoint = deploy(api, model["id"], 1, {"FAIL_AFTER": "30", "COUNTER_FILE": str(tmp_path / "count")})
    me = serve(api, model["id"], endpoint)
    merlin.set_url(observed.url, observed.token)
    merlin.set_project(model["project"]["name"])
    merlin.set_model(model["name"], "pyfunc")
    alert = merlin.alert("error_rate", 0.2, duration="1s")
    assert alert.state == "ok"

    def state() -> str:
        return merlin.list_alerts()[0].state

    with Load(me["url"] + "/v1/predict", seconds=25) as load:
        assert wait_for(lambda: state() == "firing", 20), merlin.list_alerts()
        assert any("ALERT WARNING: error_rate" in line for line in observe.firing_lines())
    assert any(status >= 400 for _, status, _ in load.answers)
    assert wait_for(lambda: state() == "ok", 20), merlin.list_alerts()  # no requests: nothing failing
    actions = [e["action"] for e in api.get(f"/events?model_id={model['id']}")[1]]
    assert "alert_firing" in actions and "alert_resolved" in actions, actions
    firing = next(e for e in api.get(f"/events?model_id={model['id']}")[1] if e["action"] == "alert_firing")
    assert "above 0.2" in firing["message"], firing

    frame = merlin.metrics(since="5m")
    assert len(frame) > 3 and frame["error_rate"].max() > 0.5 and frame["rps"].max() > 1
    shown = frame._repr_html_()
    assert shown.count("<svg") == 3 and "<polyline" in shown and "v1" in shown
    version_frame = merlin.list_endpoints(1)[0].metrics(since="5m")
    assert version_frame["cpu_cores"].notna().any() and version_frame["memory_mb"].max() > 10


def test_metrics_and_rollout_input_is_checked_in_words(observed, pyfunc_model):
    api, model = observed.client(), pyfunc_model
    status, me = api.get(f"/models/{model['id']}/endpoints/999/metrics")
    assert status == 404 and "no model endpoint 999" in me["error"]
    status, body = api.get(f"/models/{model['id']}/endpoints/1/metrics?since=soon")
    assert status in (400, 404)
    status, body = api.post(f"/models/{model['id']}/endpoints/999/rollouts",
                            json={"version": 2, "steps": [50, 10], "guard": {"error_rate": 0.01}})
    assert status == 400 and "rising" in body["error"] and body["field"] == "steps", body
    status, body = api.post(f"/models/{model['id']}/endpoints/999/rollouts",
                            json={"version": 2, "steps": [10], "guard": {"latency": 1}})
    assert status == 400 and body["field"] == "guard", body
