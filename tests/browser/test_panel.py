"""The Merlin panel in Chromium against a real JupyterLab, control plane and model servers.

The tests share one JupyterLab page and run in file order: the first sees the fresh server's
empty panel, the next ones deploy, try and route through the panel, the last looks at it in dark.
"""
from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.panel_page import (ACCEPT, DIALOG, badge, drawn_pixels, endpoint_row, expand,
                                     open_panel, row, row_button)
from tests.conftest import log_version, sklearn_model, unique

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def world(lab) -> dict[str, Any]:
    """What the tests create, handed from one to the next (they run in file order)."""
    return {"api": lab.client()}


def test_empty_panel_points_to_the_quickstart_and_creates_a_project(page: Page, shot):
    open_panel(page)
    empty = page.locator(".jp-MerlinPanel-empty")
    expect(empty).to_contain_text("No projects yet")
    expect(empty.get_by_role("button", name="Open 01-quickstart.ipynb")).to_be_visible()
    shot(page, "empty panel")

    page.get_by_role("button", name="New project").first.click()
    dialog = page.locator(DIALOG)
    name = dialog.get_by_label("Project name")
    name.fill("Bad_Name")
    expect(dialog.get_by_role("alert")).to_contain_text("lowercase letters")
    expect(page.locator(ACCEPT)).to_be_disabled()
    shot(page, "new project dialog refuses a bad name")
    page.locator(DIALOG).get_by_role("button", name="Cancel").click()

    # This server's root has no quickstart notebook: the panel says where to find it.
    empty.get_by_role("button", name="Open 01-quickstart.ipynb").click()
    expect(page.locator(DIALOG)).to_contain_text("notebooks/01-quickstart.ipynb")
    page.locator(DIALOG).get_by_role("button", name="Close").click()

    page.get_by_role("button", name="New project").first.click()
    name = page.locator(DIALOG).get_by_label("Project name")
    project = unique("panel")
    name.fill(project)
    expect(page.locator(ACCEPT)).to_be_enabled()
    page.locator(ACCEPT).click()
    expect(row(page, "project", project)).to_be_visible()
    expect(row(page, "project", project)).to_have_attribute("aria-selected", "true")


def test_a_project_created_through_the_api_appears_and_the_tree_works_by_keyboard(
        page: Page, shot, lab, world):
    api = world["api"]
    status, project = api.post("/projects", json={"name": unique("churn")})
    assert status == 201, project
    status, model = api.post(f"/projects/{project['id']}/models",
                             json={"name": "churn", "type": "sklearn"})
    assert status == 201, model
    clf, sample = sklearn_model()
    sample = sample.round(3)  # short enough to read in the request box
    log_version(lab, api, model["id"], clf, sample, labels={"stage": "baseline"})
    # Version 1 is deployed through the API (the traffic split needs two endpoints); it starts
    # while version 2 is logged and the tree is browsed, and is watched later.
    status, endpoint1 = api.post(f"/models/{model['id']}/versions/1/endpoint",
                                 json={"environment_name": "local"})
    assert status == 201, endpoint1
    log_version(lab, api, model["id"], clf, sample, labels={"stage": "tuned"})
    world.update(project=project, model=model, clf=clf, sample=sample, endpoint1=endpoint1)

    # Found by the panel's polling, without a reload.
    project_row = row(page, "project", project["name"])
    expect(project_row).to_be_visible(timeout=10_000)
    # Keyboard: focus the row, Right expands it, Down moves to the model, Right expands that.
    project_row.click()
    project_row.press("ArrowRight")
    expect(project_row).to_have_attribute("aria-expanded", "true")
    model_row = row(page, "model", "churn")
    expect(model_row).to_be_visible()
    project_row.press("ArrowDown")
    expect(model_row).to_be_focused()
    model_row.press("ArrowRight")
    expect(model_row).to_have_attribute("aria-expanded", "true")
    expect(row(page, "version")).to_have_count(2)
    expect(row(page, "version", "v2")).to_contain_text("stage=tuned")
    shot(page, "project from the API expanded by keyboard")


def test_deploy_through_the_dialog_until_the_badge_says_running(page: Page, shot, world):
    version_row = row(page, "version", "v2")
    row_button(version_row, "Deploy").click()
    dialog = page.locator(DIALOG)
    expect(dialog).to_contain_text("Deploy churn version 2")
    expect(dialog.get_by_label("Environment")).to_have_value("local")
    # Mistakes are named next to their field and the dialog cannot be sent.
    dialog.get_by_label("CPU").fill("lots")
    dialog.get_by_label("Min replicas").fill("3")
    expect(dialog).to_contain_text("CPU is a number of cores")
    expect(dialog).to_contain_text("Minimum replicas (3) is more than the maximum")
    expect(page.locator(ACCEPT)).to_be_disabled()
    shot(page, "deploy dialog points at mistakes")
    dialog.get_by_label("CPU").fill("500m")
    dialog.get_by_label("Min replicas").fill("1")
    dialog.get_by_label("Memory").fill("256Mi")
    dialog.get_by_role("button", name="Add variable").click()
    dialog.get_by_label("Variable 1 name").fill("GREETING")
    dialog.get_by_label("Variable 1 value").fill("hello")
    # Request logging: a switch, then what to log and the share of requests.
    dialog.get_by_role("switch").check()
    dialog.get_by_label("Share logged").fill("2")
    expect(dialog).to_contain_text("at most 1")
    dialog.get_by_label("Share logged").fill("1")
    expect(page.locator(ACCEPT)).to_be_enabled()
    shot(page, "deploy dialog filled in")
    page.locator(ACCEPT).click()
    expect(dialog).to_have_count(0)

    # The dialog closes first, then the panel sends the deploy: wait for it to arrive.
    path = f"/models/{world['model']['id']}/versions/2/endpoint"
    deadline = time.monotonic() + 30
    while not (endpoints := world["api"].get(path)[1]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(endpoints) == 1, endpoints
    endpoint = endpoints[0]
    assert endpoint["resource_request"]["cpu_request"] == "500m"
    assert endpoint["env_vars"] == [{"name": "GREETING", "value": "hello"}]
    assert endpoint["logger"]["model"] == {"enabled": True, "mode": "all", "sample_rate": 1.0}
    # The new endpoint is revealed and selected; its badge follows the server's status.
    new_row = endpoint_row(page, endpoint["id"])
    expect(new_row).to_have_attribute("aria-selected", "true")
    if badge(new_row).inner_text() == "pending":
        shot(page, "endpoint pending")
    expect(badge(new_row)).to_have_text("running", timeout=60_000)
    shot(page, "endpoint running")
    endpoint = world["api"].get(
        f"/models/{world['model']['id']}/versions/2/endpoint/{endpoint['id']}")[1]
    assert endpoint["status"] == "running", endpoint["message"]
    world["endpoint2"] = endpoint


def test_try_it_shows_predictions_and_latency(page: Page, shot, world):
    row_button(endpoint_row(page, world["endpoint2"]["id"]), "Details").click()
    details = page.locator(".jp-MerlinDetails")
    expect(details).to_be_visible()
    expect(details.locator(".jp-MerlinDetails-header")).to_contain_text("running")
    expect(details.locator(".jp-MerlinDetails-header")).to_contain_text("version 2")
    expect(details).to_contain_text(world["endpoint2"]["url"])
    expect(details.get_by_label("curl snippet", exact=True)).to_contain_text("curl -sS -X POST")
    expect(details.get_by_label("Python snippet", exact=True)).to_contain_text("httpx.post(")
    body = details.get_by_label("Request body (JSON)")
    body.fill('{"instances": %s}' % world["sample"].tolist())
    details.get_by_role("button", name="Send").click()
    expected = world["clf"].predict(world["sample"]).tolist()
    response = details.get_by_label("Response")
    expect(response).to_contain_text('"predictions"')
    assert [int(n) for n in re.findall(r"-?\d+", response.inner_text())] == expected
    expect(details.locator(".jp-MerlinDetails-status")).to_have_text(
        re.compile(r"^200 OK · \d+ ms$"))
    # The snippets send what was tried.
    first_value = str(world["sample"].tolist()[0][0])
    expect(details.get_by_label("curl snippet", exact=True)).to_contain_text(first_value)
    expect(details.get_by_label("Python snippet", exact=True)).to_contain_text(first_value)
    # Live logs and the events of this endpoint.
    expect(details.get_by_label("Model server logs")).not_to_have_text("No output yet.")
    expect(details.locator(".jp-MerlinDetails-events")).to_contain_text("version 2")
    shot(page, "endpoint details after try it")
    # The request just sent, in the Requests tab (the endpoint was deployed with logging on).
    details.get_by_role("tab", name="Requests").click()
    logged = details.get_by_label("Logged requests")
    expect(logged).to_contain_text(first_value, timeout=30_000)
    expect(logged.locator("tbody tr").first).to_contain_text("200")
    shot(page, "endpoint details requests tab")
    details.get_by_role("tab", name="Logs").click()
    expect(details.get_by_label("Model server logs")).to_be_visible()


def test_endpoint_details_chart_the_requests_it_answered(page: Page, shot, world):
    import httpx

    with httpx.Client() as client:  # bounded real load on 127.0.0.1, seen by the next scrapes
        for _ in range(40):
            client.post(world["endpoint2"]["url"], json={"instances": world["sample"].tolist()})
    details = page.locator(".jp-MerlinDetails")
    chart = details.get_by_role("img", name="requests/s chart")
    expect(chart).to_have_attribute("data-requests", re.compile(r"^[1-9]\d*$"), timeout=30000)
    expect(chart.locator("canvas")).to_be_visible()
    # The picture itself: the canvas has drawn lines, not only a blank area.
    drawn = drawn_pixels(chart)
    assert drawn > 500, drawn
    chart.scroll_into_view_if_needed()
    shot(page, "endpoint details with metrics charts")


def test_traffic_split_between_two_versions(page: Page, shot, world):
    api, model = world["api"], world["model"]
    # Version 1's endpoint, deployed through the API, is in the tree on its own.
    endpoint1 = api.wait_endpoint(model["id"], 1, world["endpoint1"]["id"])
    assert endpoint1["status"] == "running", endpoint1["message"]
    open_panel(page)
    expand(row(page, "version", "v1"))
    expect(badge(endpoint_row(page, endpoint1["id"]))).to_have_text("running")

    row_button(row(page, "model", "churn"), "Edit traffic").click()
    dialog = page.locator(DIALOG)
    expect(dialog).to_contain_text("A new model endpoint is created.")
    add = dialog.get_by_role("button", name="Add destination")
    add.click()
    add.click()
    # Two destinations start even; 70 + 20 is refused with the total, 70 + 30 is applied.
    expect(dialog.get_by_label("Weight of destination 2 (percent)")).to_have_value("50")
    dialog.get_by_label("Weight of destination 1 (percent)").fill("70")
    dialog.get_by_label("Weight of destination 2 (percent)").fill("20")
    expect(dialog).to_contain_text("Total: 90% (must be 100)")
    expect(page.locator(ACCEPT)).to_be_disabled()
    dialog.get_by_label("Weight of destination 2 (percent)").fill("30")
    expect(dialog).to_contain_text("Total: 100% ✓")
    expect(dialog.locator(".jp-MerlinTraffic-summary")).to_have_text("v2 70% · v1 30%")
    dialog.get_by_text("Rule to apply").click()  # the JSON the API gets
    expect(dialog.locator(".jp-MerlinTraffic-rule pre")).to_contain_text('"weight": 30')
    shot(page, "traffic editor with the rule to apply")
    page.locator(ACCEPT).click()
    expect(dialog).to_have_count(0)

    traffic = row(page, "traffic", "local")
    expect(traffic).to_contain_text("v2 70% · v1 30%")
    expect(badge(traffic)).to_have_text("serving", timeout=30_000)
    for item in row(page, "endpoint").all():
        expect(badge(item)).to_have_text("serving", timeout=30_000)
    # The details tab of version 2's endpoint, still open, follows as well.
    expect(page.locator(".jp-MerlinDetails-header .jp-MerlinBadge")).to_have_text("serving")
    shot(page, "model endpoint serving 70-30")
    status, model_endpoints = api.get(f"/models/{model['id']}/endpoints")
    assert status == 200
    weights = {d["version_endpoint_id"]: d["weight"]
               for d in model_endpoints[0]["rule"]["destinations"]}
    assert sorted(weights.values()) == [30, 70]
    assert set(weights) == {world["endpoint1"]["id"], world["endpoint2"]["id"]}
    world["model_endpoint"] = model_endpoints[0]


def predict_through(url: str, sample, n: int) -> None:
    import httpx

    with httpx.Client() as client:  # bounded real load on 127.0.0.1, seen by the next scrapes
        for _ in range(n):
            client.post(url, json={"instances": sample.tolist()})


def test_rollout_view_shows_the_step_both_versions_and_pauses(page: Page, shot, world):
    api, model, me = world["api"], world["model"], world["model_endpoint"]
    rollouts = f"/models/{model['id']}/endpoints/{me['id']}/rollouts"
    # Started as a notebook would; the bake outlasts the test, so it stays on its first step.
    status, rollout = api.post(rollouts, json={"version": 2, "steps": [80, 100], "bake": "10m",
                                               "guard": {"error_rate": 0.5, "p99_ms": 2000}})
    assert status == 201, rollout
    world["rollouts"] = rollouts
    traffic = row(page, "traffic", "local")
    row_button(traffic, "Traffic, rollout and alerts").click()
    view = page.locator(".jp-MerlinTrafficDetails")
    section = view.locator(".jp-MerlinRollout")
    expect(section.get_by_label("Current step")).to_have_text("step 1 of 2: v2 gets 80 %, v1 20 %")
    expect(section.locator("[aria-current=step]")).to_have_text("80 %")
    expect(traffic).to_contain_text("v1 20% · v2 80%")
    charts = [section.get_by_role("img", name="requests/s chart"),
              view.locator(".jp-MerlinTraffic-overview").get_by_role("img", name="requests/s chart")]
    # Bounded real load through the model endpoint's URL until both versions answered some in
    # the charts (at 80/20, a few dozen requests; a version's first scrape is only its baseline).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(c.get_attribute("data-answered") != "1,2" for c in charts):
        predict_through(me["url"] + "/v1/predict", world["sample"], 20)
        time.sleep(0.5)
    for chart in charts:  # a line per version, drawn
        expect(chart).to_have_attribute("data-answered", "1,2")
        assert drawn_pixels(chart) > 500
    compare = section.get_by_label("Versions side by side")
    expect(compare).to_contain_text("v1 (old, 20 %)")
    requests = compare.locator("tbody tr").first.locator("td")  # this step's requests, per version
    for column in (1, 2):
        expect(requests.nth(column)).to_have_text(re.compile(r"^[1-9]\d*$"))
    shot(page, "rollout view with both versions")
    section.scroll_into_view_if_needed()

    section.get_by_role("button", name="Pause").click()
    expect(section.locator(".jp-MerlinRollout-status")).to_have_text("paused")
    assert api.get(f"{rollouts}/{rollout['id']}")[1]["status"] == "paused"
    shot(page, "rollout paused")
    section.get_by_role("button", name="Resume").click()
    expect(section.locator(".jp-MerlinRollout-status")).to_have_text("running")
    assert api.get(f"{rollouts}/{rollout['id']}")[1]["status"] == "running"


def test_abort_in_the_rollout_view_returns_the_traffic(page: Page, shot, world):
    api, rollouts = world["api"], world["rollouts"]
    section = page.locator(".jp-MerlinTrafficDetails .jp-MerlinRollout")
    section.get_by_role("button", name="Abort").click()
    expect(page.locator(DIALOG)).to_contain_text("all traffic goes back to the rule before it")
    page.locator(ACCEPT).click()
    expect(section.locator(".jp-MerlinRollout-status")).to_have_text("aborted")
    expect(row(page, "traffic", "local")).to_contain_text("v2 70% · v1 30%")

    def weights() -> dict[str, int]:
        me = api.get(f"/models/{world['model']['id']}/endpoints")[1][0]
        return {d["version_endpoint_id"]: d["weight"] for d in me["rule"]["destinations"]}

    assert weights() == {world["endpoint2"]["id"]: 70, world["endpoint1"]["id"]: 30}
    shot(page, "rollout aborted")

    # Refused by the server (aborted elsewhere while the panel asked): its words, in a dialog.
    status, second = api.post(rollouts, json={"version": 2, "steps": [90], "bake": "10m",
                                              "guard": {"error_rate": 0.5}})
    assert status == 201, second
    expect(section.get_by_role("heading", name=re.compile(f"^Rollout {second['id']}:"))).to_be_visible()
    section.get_by_role("button", name="Abort").click()
    expect(page.locator(DIALOG)).to_contain_text("Abort the rollout?")
    assert api.post(f"{rollouts}/{second['id']}/abort")[0] == 200
    page.locator(ACCEPT).click()
    error = page.locator(DIALOG)
    expect(error).to_contain_text(f"Could not abort rollout {second['id']}")
    expect(error).to_contain_text("only a running or paused rollout can be told to abort")
    shot(page, "rollout refusal in the server's words")
    error.get_by_role("button", name="Close").click()
    expect(page.locator(DIALOG)).to_have_count(0)
    assert weights() == {world["endpoint2"]["id"]: 70, world["endpoint1"]["id"]: 30}


def test_an_alert_created_in_the_panel_is_in_the_api_until_deleted_there(page: Page, shot, world):
    api, me = world["api"], world["model_endpoint"]
    alerts = f"/models/{world['model']['id']}/endpoints/{me['id']}/alerts"
    view = page.locator(".jp-MerlinTrafficDetails")
    view.get_by_role("button", name="New alert").click()
    dialog = page.locator(DIALOG)
    dialog.get_by_label("Metric").select_option("latency")
    dialog.get_by_label("Percentile").select_option("95")
    dialog.get_by_label("Fires above (ms)").fill("fast")
    expect(dialog).to_contain_text("The threshold is a number of ms")
    expect(page.locator(ACCEPT)).to_be_disabled()
    dialog.get_by_label("Fires above (ms)").fill("250")
    dialog.get_by_label("For at least").fill("30s")
    dialog.get_by_label("Severity").select_option("CRITICAL")
    shot(page, "new alert dialog")
    page.locator(ACCEPT).click()
    expect(dialog).to_have_count(0)
    deadline = time.monotonic() + 30
    while not (found := api.get(alerts)[1]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [(a["metric"], a["percentile"], a["threshold"], a["duration_seconds"], a["severity"])
            for a in found] == [("latency", 95.0, 250.0, 30.0, "CRITICAL")]
    table = view.get_by_role("table", name="Alerts")
    expect(table).to_contain_text("p95 latency above 250 ms for 30 s")
    shot(page, "alert in the traffic tab")

    table.get_by_role("button", name="Delete alert: p95 latency above 250 ms for 30 s").click()
    expect(page.locator(DIALOG)).to_contain_text("is deleted and no longer watched")
    page.locator(ACCEPT).click()
    expect(view.locator(".jp-MerlinAlerts")).to_contain_text("No alerts.")
    assert api.get(alerts)[1] == []


def test_redeploy_starts_from_the_endpoints_settings(page: Page, world):
    row_button(endpoint_row(page, world["endpoint2"]["id"]), "Redeploy").click()
    dialog = page.locator(DIALOG)
    expect(dialog).to_contain_text("Redeploy churn version 2 in local")
    # An endpoint does not move between environments; the rest is what it was deployed with.
    expect(dialog.get_by_label("Environment")).to_be_disabled()
    expect(dialog.get_by_label("CPU")).to_have_value("500m")
    expect(dialog.get_by_label("Memory")).to_have_value("256Mi")
    expect(dialog.get_by_label("Variable 1 name")).to_have_value("GREETING")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)


def test_undeploy_is_refused_while_serving_then_confirmed(page: Page, shot, world):
    first = endpoint_row(page, world["endpoint1"]["id"])
    row_button(first, "Undeploy").click()
    confirm = page.locator(DIALOG)
    expect(confirm).to_contain_text("Its server stops and its URL stops answering")
    page.locator(ACCEPT).click()
    # The API refuses (the endpoint serves traffic) and its sentence is shown as it is.
    error = page.locator(DIALOG)
    expect(error).to_contain_text("Could not undeploy")
    expect(error).to_contain_text("remove it from the model endpoint's rule")
    shot(page, "undeploy refused while serving")
    error.get_by_role("button", name="Close").click()
    expect(page.locator(DIALOG)).to_have_count(0)

    # All traffic to version 2, then version 1 is no longer serving and can go.
    row_button(row(page, "traffic", "local"), "Edit traffic").click()
    dialog = page.locator(DIALOG)
    expect(dialog).to_contain_text("Its current rule is replaced in one step.")
    chosen = [select.input_value()
              for select in dialog.locator("select[aria-label^='Destination']").all()]
    index = chosen.index(world["endpoint1"]["id"]) + 1
    dialog.get_by_role("button", name=f"Remove destination {index}").click()
    dialog.get_by_label("Weight of destination 1 (percent)").fill("100")
    rule = dialog.locator(".jp-MerlinTraffic-rule pre")
    expect(rule).not_to_contain_text(world["endpoint1"]["id"])
    page.locator(ACCEPT).click()
    expect(dialog).to_have_count(0)
    expect(badge(first)).to_have_text("running", timeout=30_000)
    row_button(first, "Undeploy").click()
    page.locator(ACCEPT).click()
    expect(badge(first)).to_have_text("terminated", timeout=30_000)
    expect(row_button(first, "Undeploy")).to_be_disabled()
    shot(page, "version 1 undeployed")
    endpoint = world["api"].get(
        f"/models/{world['model']['id']}/versions/1/endpoint/{world['endpoint1']['id']}")[1]
    assert endpoint["status"] == "terminated"


def test_a_failed_deploy_shows_its_reason(page: Page, shot, world):
    api, model = world["api"], world["model"]
    # A version whose run has no model logged cannot be served.
    status, version = api.post(f"/models/{model['id']}/versions",
                               json={"labels": {"stage": "empty"}})
    assert status == 201, version
    status, endpoint = api.post(f"/models/{model['id']}/versions/{version['id']}/endpoint",
                                json={"environment_name": "local"})
    assert status == 201, endpoint
    version_row = row(page, "version", f"v{version['id']}")
    expand(version_row)
    failed = endpoint_row(page, endpoint["id"])
    expect(badge(failed)).to_have_text("failed", timeout=60_000)
    reason = api.get(f"/models/{model['id']}/versions/{version['id']}/endpoint/{endpoint['id']}")[1]
    assert reason["status"] == "failed" and reason["message"]
    # The reason is in the row (and its tooltip) and at the top of the details.
    expect(failed.locator(".jp-MerlinTree-meta")).to_have_attribute("title", reason["message"])
    row_button(failed, "Details").click()
    details = page.locator(".jp-MerlinDetails").filter(has_text=f"version {version['id']}")
    expect(details.locator(".jp-MerlinPanel-error")).to_contain_text(
        reason["message"].splitlines()[0])
    expect(details).to_contain_text("This endpoint failed to deploy")
    shot(page, "failed deploy with its reason")


def test_dark_theme(page: Page, shot, world):
    page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', "
                  "{theme: 'JupyterLab Dark'})")
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false", timeout=15_000)
    # The details tab of version 2's endpoint is still open: show it beside the panel.
    open_panel(page)
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="churn v2").click()
    expect(page.locator(".jp-MerlinDetails:visible .jp-MerlinBadge")).to_have_text("serving")
    panel = page.locator("#merlin-panel")
    background = panel.evaluate("el => getComputedStyle(el).backgroundColor")
    # A dark background: every channel well under the middle.
    channels = [int(c) for c in re.findall(r"\d+", background)[:3]]
    assert max(channels) < 100, background
    shot(page, "dark theme")
    # The traffic tab's charts redraw in the dark theme's colours (a canvas keeps the old ones).
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="churn traffic").click()
    chart = page.locator(".jp-MerlinTraffic-overview").get_by_role("img", name="requests/s chart")
    expect(chart).to_have_attribute("data-text-color", re.compile(r"255,\s*255,\s*255"))
    assert drawn_pixels(chart) > 500
    shot(page, "traffic tab in the dark theme")

    # The palette lists the panel's commands; the ones about the selection say what they act on.
    page.keyboard.press("Control+Shift+C")
    palette = page.locator("#command-palette")
    palette.locator("input").fill("Merlin")
    items = palette.locator(".lm-CommandPalette-item")
    for label in ("Undeploy Selected Endpoint…", "Redeploy Selected Endpoint…",
                  "Open Selected Endpoint Details", "Edit Traffic of Selected Model…",
                  "New Project…", "Open the Quickstart Notebook"):
        expect(items.filter(has_text=label)).to_be_visible()
    # The selection is an endpoint: deploying a version is not offered for it.
    expect(items.filter(has_text="Deploy Selected Version…")).to_have_class(
        re.compile("lm-mod-disabled"))
    shot(page, "palette commands in the dark theme")
    page.keyboard.press("Escape")
    page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', "
                  "{theme: 'JupyterLab Light'})")
