"""The notebook's live rollout widget over a real control plane, real model servers and load:
it shows the step and both versions' numbers, keeps them current, and its buttons act."""
from __future__ import annotations

import re
import time

import merlin_jupyter as merlin
from merlin_jupyter.rollout_widget import RolloutWidget

from .conftest import Load, deploy, log_code_version, serve


def wait_for(check, timeout: float = 30.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def rps_cells(view: str) -> list[str]:
    row = re.search(r"<th style='text-align:left'>requests/s</th>(.*?)</tr>", view)
    return re.findall(r">([^<]*)</td>", row.group(1)) if row else []


def test_the_rollout_widget_shows_both_versions_live_and_its_buttons_pause_and_abort(
        observed, pyfunc_model, tmp_path):
    api, model = observed.client(), pyfunc_model
    for _ in range(2):
        log_code_version(observed, model["id"], tmp_path)
    old, _ = deploy(api, model["id"], 1), deploy(api, model["id"], 2)
    me = serve(api, model["id"], old)
    merlin.set_url(observed.url, observed.token)
    merlin.set_project(model["project"]["name"])
    merlin.set_model(model["name"], "pyfunc")
    rollout = merlin.rollout(2, steps=[50, 100], bake="5m", guard={"error_rate": 0.5}, min_requests=5,
                             widget=False)
    widget = RolloutWidget(rollout, interval=0.3).show()
    server = f"/models/{model['id']}/endpoints/{me['id']}/rollouts/{rollout.id}"
    with Load(me["url"] + "/v1/predict", seconds=40):
        # Both versions answered during the step: their requests/s appear side by side, by themselves.
        cells = wait_for(lambda: (c := rps_cells(widget.view.value)) and "–" not in c and c, 30,
                         f"the widget never showed both versions' numbers: {widget.view.value}")
        assert len(cells) == 2 and all(float(c) > 0 for c in cells), cells
        view = widget.view.value
        assert "<b>50%</b>" in view and "version 2 gets 50 %" in view and "running" in view, view

        widget.pause.click()
        assert api.get(server)[1]["status"] == "paused"
        wait_for(lambda: "paused" in widget.view.value, 10, widget.view.value)
        assert widget.pause.disabled and not widget.resume.disabled and not widget.abort.disabled

        widget.resume.click()
        assert api.get(server)[1]["status"] == "running"
        assert not widget.pause.disabled and widget.resume.disabled

        widget.abort.click()
    done = api.get(server)[1]
    assert done["status"] == "aborted", done
    rule = api.get(f"/models/{model['id']}/endpoints/{me['id']}")[1]["rule"]
    assert rule["destinations"] == [{"version_endpoint_id": old["id"], "weight": 100}], rule
    wait_for(lambda: "aborted" in widget.view.value, 10, widget.view.value)
    assert widget.pause.disabled and widget.resume.disabled and widget.abort.disabled
    # A finished rollout is not polled any more.
    wait_for(lambda: not widget.thread.is_alive(), 10, "the widget kept polling a finished rollout")
