"""One team, one control plane: alice deploys from her notebook kernel, bob reads, predicts and is
refused the undeploy in words, both in their own JupyterLab servers under a real JupyterHub."""
from __future__ import annotations

import asyncio
import concurrent.futures
import pathlib
import re

from tests.team.kernel import run_in_kernel

SCREENSHOTS = pathlib.Path(__file__).resolve().parent / "logs"

# What alice runs in a notebook cell of her own server: nothing in it names the control plane,
# the server gave the kernel its URL and token.
ALICE_CELL = '''
import os
import numpy as np
from sklearn.linear_model import LogisticRegression
import merlin_jupyter as merlin

X = np.random.default_rng(0).random((60, 4))
clf = LogisticRegression().fit(X, (X[:, 0] > 0.5).astype(int))
merlin.set_project("churn")
merlin.set_model("clf", "sklearn")
endpoint = merlin.deploy(merlin.log_version(clf, X[:3]))
print("MERLIN_URL", os.environ["MERLIN_URL"])
print("ENDPOINT", endpoint.id, endpoint.status)
'''


def in_thread(coro_fn, *args):
    """Run an async helper beside Playwright's sync API (which owns this thread's loop)."""
    pool = concurrent.futures.ThreadPoolExecutor(1)
    return pool.submit(lambda: asyncio.run(coro_fn(*args)))


def log_in(browser, hub, user: str):
    """bob's JupyterLab through the hub's login page, as a person opens it."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(f"{hub.url}/hub/login?next=/hub/user/{user}/lab")
    page.locator("#username_input").fill(user)
    page.locator("#password_input").fill("merlin")
    page.locator("#login_submit").click()
    page.locator("#jp-main-dock-panel").wait_for()
    page.locator(".jp-SideBar [data-id='merlin-panel']").click()
    return page


def undeploy_in_panel(page, endpoint_id: str, refusal: str) -> None:
    from playwright.sync_api import expect

    for kind, name in (("project", "churn"), ("model", "clf"), ("version", "")):
        item = page.locator(f"#merlin-panel [role=treeitem][data-kind={kind}]", has_text=name).first
        expect(item).to_have_attribute("aria-expanded", re.compile("true|false"))
        if item.get_attribute("aria-expanded") != "true":
            item.locator(".jp-MerlinTree-caret").click()
    endpoint = page.locator(f"#merlin-panel [role=treeitem][data-key='e:{endpoint_id}']")
    endpoint.get_by_role("button", name=re.compile("^Undeploy")).click()
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Could not undeploy")
    expect(dialog).to_contain_text(refusal)
    page.screenshot(path=str(SCREENSHOTS / "bob-undeploy-refused.png"))
    dialog.get_by_role("button", name="Close").click()


def test_alice_deploys_bob_reads_predicts_and_is_refused_the_undeploy(hub, browser):
    from playwright.sync_api import expect

    for user in ("alice", "bob"):
        hub.start_server(user)  # both spawn at once, while the Merlin service starts
    hub.wait_merlin()
    alice_server, bob_server = hub.wait_server("alice"), hub.wait_server("bob")
    deployed = in_thread(run_in_kernel, alice_server, hub.token("alice"), ALICE_CELL, 240)
    page = log_in(browser, hub, "bob")  # bob's JupyterLab loads while alice's kernel deploys
    printed = deployed.result(timeout=300)
    assert f"MERLIN_URL {hub.merlin_url}" in printed, printed
    endpoint_id, status = re.search(r"ENDPOINT (\S+) (\S+)", printed).groups()
    assert status == "running", printed

    alice = hub.client("alice", alice_server + "merlin/api/v1")
    bob = hub.client("bob", bob_server + "merlin/api/v1")
    project = alice.get("/projects", params={"name": "churn"}).json()[0]
    assert project["administrators"] == ["alice"]
    assert project["mlflow_tracking_url"] == hub.merlin_url + "merlin/mlflow"  # through the hub
    # bob cannot see it, in his panel or his API.
    assert bob.get("/projects").json() == []
    expect(page.locator(".jp-MerlinPanel-empty")).to_contain_text("No projects yet")
    expect(page.locator(".jp-MerlinPanel-caller")).to_have_text("Team control plane, as bob")
    refused = bob.get(f"/projects/{project['id']}")
    assert refused.status_code == 403 and "not a member" in refused.json()["error"]

    assert alice.put(f"/projects/{project['id']}", json={"readers": ["bob"]}).status_code == 200
    # bob's panel shows it (it polls), through his own server.
    expect(page.locator("#merlin-panel [role=treeitem][data-kind=project]", has_text="churn")).to_be_visible()
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "bob-panel.png"))

    # He calls its prediction through his server's proxy...
    predicted = bob.post(f"{bob_server}merlin/serve/endpoints/{endpoint_id}/v1/models/clf-1:predict",
                         json={"instances": [[0.9, 0.1, 0.1, 0.1]]})
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["predictions"] == [1]
    # ...and is told, in words, that he may not undeploy it: in his panel and over the API.
    refusal = ("You (bob) cannot undeploy an endpoint in project 'churn': that needs the "
               "administrator role, and you are a reader. Ask one of its administrators (alice) "
               "to add you to its administrators.")
    undeploy_in_panel(page, endpoint_id, refusal)
    model = bob.get(f"/projects/{project['id']}/models").json()[0]
    refused = bob.delete(f"/models/{model['id']}/versions/1/endpoint/{endpoint_id}")
    assert refused.status_code == 403 and refused.json()["error"] == refusal
    assert bob.get(f"/models/{model['id']}/versions/1/endpoint/{endpoint_id}").json()["status"] == "running"

    events = bob.get("/events", params={"project_id": project["id"]}).json()
    people = {e["actor"] for e in events} - {"reconciler"}
    assert people == {"alice"}, events
    assert {"create", "deploy", "update"} <= {e["action"] for e in events if e["actor"] == "alice"}
