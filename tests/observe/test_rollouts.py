"""Guarded rollouts on the local environment: real model servers, real HTTP load on 127.0.0.1."""
from __future__ import annotations

import time

from tests.waiting import wait_until

from .conftest import Load, deploy, log_code_version, serve, wait_rollout

BAKE = 4  # seconds


def start(api, model, me, body) -> tuple[str, dict]:
    status, rollout = api.post(f"/models/{model['id']}/endpoints/{me['id']}/rollouts", json=body)
    assert status == 201, rollout
    return f"/models/{model['id']}/endpoints/{me['id']}/rollouts/{rollout['id']}", rollout


def test_a_version_that_starts_failing_is_rolled_back_within_one_bake(observed, pyfunc_model, tmp_path):
    api, model = observed.client(), pyfunc_model
    for _ in range(2):
        log_code_version(observed, model["id"], tmp_path)
    old = deploy(api, model["id"], 1)
    new = deploy(api, model["id"], 2, {"FAIL_AFTER": "40", "COUNTER_FILE": str(tmp_path / "count")})
    me = serve(api, model["id"], old)
    previous = api.get(f"/models/{model['id']}/endpoints/{me['id']}")[1]["rule"]
    with Load(me["url"] + "/v1/predict") as load:
        path, rollout = start(api, model, me, {"version": 2, "steps": [20, 50, 100], "bake": f"{BAKE}s",
                                               "guard": {"error_rate": 0.01, "p99_ms": 2000}, "min_requests": 10})
        assert rollout["status"] == "running" and rollout["weight"] == 20, rollout
        done = wait_rollout(api, path, ("rolled_back", "completed", "aborted"), timeout=45)
        rolled_back_at = time.monotonic()
        # answers after the rollback (only the old version), however slowly the load gets them
        wait_until(lambda: len([a for a in list(load.answers) if a[0] > rolled_back_at + 0.3]) >= 10, 30,
                   "no answers after the rollback")
    assert done["status"] == "rolled_back", done
    assert "error_rate of version 2" in done["message"] and "threshold 0.01" in done["message"], done
    first_bad = next(t for t, status, _ in load.answers if status >= 400)
    print(f"\nrollback {rolled_back_at - first_bad:.2f} s after the first bad answer "
          f"(scrape interval 0.5 s, bake {BAKE:g} s)")
    assert rolled_back_at - first_bad < BAKE, "not rolled back within one bake"
    late = [(status, version) for t, status, version in load.answers if t > rolled_back_at + 0.3]
    assert late and all(v == "1" and s == 200 for s, v in late), late[:5]
    assert api.get(f"/models/{model['id']}/endpoints/{me['id']}")[1]["rule"] == previous
    events = api.get(f"/events?model_id={model['id']}")[1]
    rolled = [e for e in events if e["action"] == "rollout_rolled_back"]
    assert rolled and "error_rate of version 2 was" in rolled[0]["message"], events[:3]


def test_a_healthy_version_completes_its_rollout_and_pause_holds_a_step(observed, pyfunc_model, tmp_path):
    api, model = observed.client(), pyfunc_model
    for _ in range(2):
        log_code_version(observed, model["id"], tmp_path)
    old, new = deploy(api, model["id"], 1), deploy(api, model["id"], 2)
    me = serve(api, model["id"], old)
    with Load(me["url"] + "/v1/predict") as load:
        path, rollout = start(api, model, me, {"version": 2, "steps": [50, 100], "bake": "2s",
                                               "guard": {"error_rate": 0.01}, "min_requests": 5})
        assert api.post(path + "/pause")[1]["status"] == "paused"
        time.sleep(3)  # longer than the bake: a paused rollout stays on its step
        held = api.get(path)[1]
        assert held["status"] == "paused" and held["weight"] == 50, held
        assert api.post(path + "/resume")[1]["status"] == "running"
        done = wait_rollout(api, path, ("rolled_back", "completed", "aborted"), timeout=30)
    assert done["status"] == "completed", done
    rule = api.get(f"/models/{model['id']}/endpoints/{me['id']}")[1]["rule"]
    assert rule["destinations"] == [{"version_endpoint_id": new["id"], "weight": 100}]
    assert {v for _, s, v in load.answers if s == 200} == {"1", "2"}
    assert all(s == 200 for _, s, _ in load.answers)
    actions = [e["action"] for e in api.get(f"/events?model_id={model['id']}")[1]]
    assert "rollout_completed" in actions and "rollout_paused" in actions
    status, metrics = api.get(f"/models/{model['id']}/endpoints/{me['id']}/metrics?since=5m")
    assert status == 200 and {p["version"] for p in metrics["points"] if p["requests"]} == {1, 2}, metrics
