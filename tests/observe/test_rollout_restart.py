"""A guarded rollout across a control plane killed with SIGKILL in the middle of a bake.

The rollout is a row in the store and runs in the control plane: the next control plane on the
same data dir takes it over at its recorded step, says so in an event, and bakes that step again
in full (the numbers of the first part of the bake died with the old process), then goes on.
"""
from __future__ import annotations

import signal
import time

import pytest

from tests.conftest import ControlPlaneProcess, _stop_model_servers, unique

from .conftest import INTERVAL, Load, deploy, log_code_version, serve, wait_rollout

BAKE = 6.0  # seconds: long enough to kill the control plane in the middle of the first one


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.fixture
def plane(tmp_path_factory):
    cp = ControlPlaneProcess(tmp_path_factory.mktemp("rollout-restart"),
                             extra_args=[f"--MerlinApp.metrics_interval={INTERVAL}"]).start()
    yield cp
    if cp.proc is not None and cp.proc.poll() is None:
        cp.stop()
    _stop_model_servers(cp.home)


@pytest.mark.timeout(300)
def test_a_rollout_goes_on_from_its_step_after_the_control_plane_is_killed_mid_bake(plane, tmp_path):
    cp = plane
    api = cp.client()
    project = api.post("/projects", json={"name": unique("restart")})[1]
    model = api.post(f"/projects/{project['id']}/models", json={"name": unique("m"), "type": "pyfunc"})[1]
    for _ in range(2):
        log_code_version(cp, model["id"], tmp_path)
    old, new = deploy(api, model["id"], 1), deploy(api, model["id"], 2)
    me = serve(api, model["id"], old)
    base = f"/models/{model['id']}/endpoints/{me['id']}"
    with Load(me["url"] + "/v1/predict", seconds=90):
        status, rollout = api.post(base + "/rollouts", json={
            "version": 2, "steps": [30, 100], "bake": f"{BAKE:g}s", "guard": {"error_rate": 0.01},
            "min_requests": 5})
        assert status == 201 and rollout["weight"] == 30, rollout
        path = f"{base}/rollouts/{rollout['id']}"
        time.sleep(BAKE / 3)  # well inside the first bake
        cp.proc.send_signal(signal.SIGKILL)
        cp.proc.wait(30)
        assert cp.proc.returncode == -signal.SIGKILL

        restarted_at = time.monotonic()
        cp.start()
        api = cp.client()

        def recovered() -> list:
            events = api.get(f"/events?model_id={model['id']}&limit=50")[1]
            return [e for e in events if e["action"] == "rollout_recovered"]

        # The new control plane's first pass of its observer takes the rollout over.
        found = wait_for(recovered, 30, "no event said the rollout was taken over")
        assert "restarted during step 1 of 2" in found[0]["message"], found
        assert "bake starts again" in found[0]["message"], found
        taken_over = api.get(path)[1]
        # The same step, still running: not completed at once for a bake the dead process began.
        assert taken_over["status"] == "running" and taken_over["step_index"] == 0, taken_over
        assert taken_over["weight"] == 30, taken_over
        rule = api.get(base)[1]["rule"]
        assert sorted(d["weight"] for d in rule["destinations"]) == [30, 70], rule

        second_step_at = wait_for(lambda: api.get(path)[1]["step_index"] >= 1 and time.monotonic(), 60,
                                  "the rollout never reached its second step after the restart")
        done = wait_rollout(api, path, ("completed", "rolled_back", "aborted"), timeout=60)
    assert done["status"] == "completed", done
    # A whole bake of step 1 was watched by the new control plane before step 2 (100 %).
    assert second_step_at - restarted_at >= BAKE, (second_step_at - restarted_at, done)
    rule = api.get(base)[1]["rule"]
    assert rule["destinations"] == [{"version_endpoint_id": new["id"], "weight": 100}], rule
    actions = [e["action"] for e in api.get(f"/events?model_id={model['id']}&limit=50")[1]]
    assert "rollout_completed" in actions, actions
