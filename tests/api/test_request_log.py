"""Request logging end to end: a deploy with Merlin's logger, real predictions, the requests API."""
from __future__ import annotations

import json
import time

import httpx

from tests.api.test_deploy import deploy
from tests.api.test_traffic import serve
from tests.conftest import log_version, sklearn_model, unique

# What merlin-sdk 0.50 sends for Logger(model=LoggerConfig(enabled=True, mode=LoggerMode.ALL)).
MERLIN_SDK_LOGGER = {"model": {"enabled": True, "mode": "all"}}


def requests_of(api, path: str, wait_for: int, **query) -> list[dict]:
    """The logged requests at ``path``, once ``wait_for`` of them are there (the writer batches)."""
    deadline = time.monotonic() + 20
    while True:
        status, body = api.get(path, params=query)
        assert status == 200, body
        if len(body["requests"]) >= wait_for or time.monotonic() > deadline:
            return body["requests"]
        time.sleep(0.2)


def test_logged_predictions_are_queryable_by_time_status_and_model_endpoint(control_plane, live_api, live_model):
    api, model = live_api, live_model
    clf, sample = sklearn_model()
    log_version(control_plane, api, model["id"], clf, sample)
    endpoint = deploy(api, model["id"], 1, logger=MERLIN_SDK_LOGGER)
    assert endpoint["status"] == "running", endpoint["message"]
    assert endpoint["logger"] == {"model": {"enabled": True, "mode": "all", "sample_rate": 1.0}}
    answers = [httpx.post(endpoint["url"], json={"instances": sample.tolist()}) for _ in range(3)]
    bad = httpx.post(endpoint["url"], json={"instances": [[1, 2]]})
    assert bad.status_code == 400
    me = serve(api, model["id"], {"destinations": [{"version_endpoint_id": endpoint["id"], "weight": 100}]})
    # The router passes the caller's request id on to the version, which logs it under that id.
    routed = httpx.post(me["url"] + "/v1/predict", json={"instances": sample[:1].tolist()},
                        headers={"X-Request-Id": "through-the-model-url"})
    assert routed.status_code == 200 and routed.headers["X-Request-Id"] == "through-the-model-url"
    unnamed = httpx.post(me["url"] + "/v1/predict", json={"instances": sample[:1].tolist()})
    assert len(unnamed.headers["X-Request-Id"]) == 32  # one the version's server made, passed back

    path = f"/models/{model['id']}/versions/1/endpoint/{endpoint['id']}/requests"
    rows = requests_of(api, path, 6)
    assert len(rows) == 6
    assert [r["id"] for r in rows][:2] == [unnamed.headers["X-Request-Id"], "through-the-model-url"]  # newest first
    first = next(r for r in rows if r["id"] == answers[0].headers["X-Request-Id"])
    assert json.loads(first["request"]) == {"instances": sample.tolist()}
    assert json.loads(first["response"]) == answers[0].json()
    assert first["status"] == 200 and first["version"] == 1 and first["route"] == "direct"
    assert [r["id"] for r in requests_of(api, path, 1, status="error")] == [bad.headers["X-Request-Id"]]
    assert len(requests_of(api, path, 5, status="2xx")) == 5
    assert len(requests_of(api, path, 2, limit="2")) == 2
    assert requests_of(api, path, 0, since="2000-01-01T00:00:00Z") == rows
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    assert requests_of(api, path, 0, since=future) == []

    through_model = requests_of(api, f"/models/{model['id']}/endpoints/{me['id']}/requests", 2)
    assert [(r["id"], r["version"], r["route"]) for r in through_model] == \
        [(unnamed.headers["X-Request-Id"], 1, "model_endpoint"), ("through-the-model-url", 1, "model_endpoint")]


def test_a_redeploy_keeps_the_logger_and_can_turn_it_off(control_plane, live_api, live_model):
    api, model = live_api, live_model
    log_version(control_plane, api, model["id"])
    logger = {"model": {"enabled": True, "mode": "response", "sample_rate": 0.5},
              "transformer": {"enabled": False, "mode": "all"}}
    status, created = api.post(f"/models/{model['id']}/versions/1/endpoint",
                               json={"environment_name": "local", "logger": logger})
    assert status == 201, created
    path = f"/models/{model['id']}/versions/1/endpoint/{created['id']}"
    status, kept = api.put(path, json={"resource_request": {"cpu_request": "1"}})
    assert status == 200 and kept["logger"]["model"] == {"enabled": True, "mode": "response", "sample_rate": 0.5}
    status, off = api.put(path, json={"logger": {"model": {"enabled": False}}})
    assert status == 200 and off["logger"]["model"]["enabled"] is False


def test_bad_logger_settings_and_queries_are_refused_in_words(live_api, live_model):
    api, model = live_api, live_model
    status, version = api.post(f"/models/{model['id']}/versions", json={})
    base = f"/models/{model['id']}/versions/{version['id']}/endpoint"
    cases = [
        ({"model": {"enabled": "yes"}}, "logger.model must be an object with enabled (true or false)"),
        ({"model": {"enabled": True, "mode": "everything"}}, "'everything' is not a logger mode: choose one of all, request, response"),
        ({"model": {"enabled": True, "sample_rate": 1.5}}, "logger.model.sample_rate is 1.5"),
        ({"transformer": {"enabled": True, "mode": "all"}}, "this control plane runs no transformers"),
    ]
    for logger, words in cases:
        status, body = api.post(base, json={"environment_name": "local", "logger": logger})
        assert status == 400 and words in body["error"], body
    status, endpoint = api.post(base, json={"environment_name": "local"})
    assert status == 201
    for query, words in [({"since": "yesterday"}, "give e.g. 30m, 1h or 7d"),
                         ({"status": "bad"}, "give a code such as 200"),
                         ({"limit": "0"}, "limit is 0")]:
        status, body = api.get(f"{base}/{endpoint['id']}/requests", params=query)
        assert status == 400 and words in body["error"], body


def test_logging_on_a_kubernetes_environment_without_a_sink_is_refused_in_words(live_api, live_model):
    api, model = live_api, live_model
    status, env = api.post("/environments", json={"name": unique("cluster"), "host": "https://127.0.0.1:9"})
    assert status == 201, env
    api.post(f"/models/{model['id']}/versions", json={})
    for query in ({"dry_run": "true"}, {}):
        status, body = api.post(f"/models/{model['id']}/versions/1/endpoint", params=query,
                                json={"environment_name": env["name"], "logger": MERLIN_SDK_LOGGER})
        assert status == 409, body
        assert f"Environment {env['name']!r} has no request log sink" in body["error"]
        assert "Add request_log_url to that environment's settings" in body["error"]
