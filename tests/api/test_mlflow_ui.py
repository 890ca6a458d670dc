"""The MLflow UI, opened in a browser session (a login cookie, no token header)."""
from __future__ import annotations

import httpx
import pytest

SEARCH = "merlin/mlflow/ajax-api/2.0/mlflow/experiments/search"


@pytest.fixture
def browser_session(control_plane):
    with httpx.Client(base_url=control_plane.url, follow_redirects=True, timeout=60) as client:
        client.get(f"lab?token={control_plane.token}")  # logs in: Jupyter sets its login cookie
        assert any(name.startswith("username-") for name in client.cookies), client.cookies
        yield client


def test_the_mlflow_ui_can_search_runs_from_its_own_pages(browser_session):
    answer = browser_session.post(SEARCH, json={"max_results": 10}, headers={"Sec-Fetch-Site": "same-origin"})
    assert answer.status_code == 200, answer.text
    assert "experiments" in answer.json()


@pytest.mark.parametrize("site", [None, "cross-site", "same-site"])
def test_a_post_from_another_site_is_refused(browser_session, site):
    headers = {"Sec-Fetch-Site": site} if site else {}
    answer = browser_session.post(SEARCH, json={"max_results": 10}, headers=headers)
    assert answer.status_code == 403, answer.text


def test_the_mlflow_ui_page_is_served_as_mlflow_sends_it(browser_session):
    page = browser_session.get("merlin/mlflow/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), page.headers
    # Jupyter's API policy (default-src 'none') would block the page's own scripts.
    assert "default-src 'none'" not in page.headers.get("content-security-policy", "")
    assert "<script" in page.text


@pytest.fixture(scope="module")
def quickly_idle(tmp_path_factory):
    from ..conftest import ControlPlaneProcess

    cp = ControlPlaneProcess(tmp_path_factory.mktemp("idle-mlflow"),
                             extra_args=["--MerlinApp.mlflow_idle_stop=1", "--MerlinApp.warm_standby=False"]).start()
    yield cp
    cp.stop()


def test_an_idle_tracking_server_is_stopped_and_answers_again_when_asked(quickly_idle):
    from ..waiting import wait_until

    cp = quickly_idle
    assert cp.mlflow_servers() == []  # the API was called (readiness) but MLflow not yet wanted
    api = cp.client()
    _, project = api.post("/projects", json={"name": "idle-mlflow"})
    status, model = api.post(f"/projects/{project['id']}/models", json={"name": "churn", "type": "sklearn"})
    assert status == 201, model
    assert len(cp.mlflow_servers()) == 1
    wait_until(lambda: cp.mlflow_servers() == [], timeout=30, what="the idle tracking server to stop")
    # MLflow's own REST API through the mount: the server starts again and the experiment is there.
    answer = httpx.get(cp.url + "merlin/mlflow/api/2.0/mlflow/experiments/get",
                       params={"experiment_id": model["mlflow_experiment_id"]}, headers=cp.headers, timeout=120)
    assert answer.status_code == 200, answer.text
    assert answer.json()["experiment"]["name"] == "idle-mlflow/churn"


def test_a_deploy_finds_its_logged_model_without_starting_the_tracking_server(quickly_idle):
    from ..conftest import log_version
    from ..waiting import wait_until

    cp, api = quickly_idle, quickly_idle.client()
    _, project = api.post("/projects", json={"name": "idle-deploy"})
    _, model = api.post(f"/projects/{project['id']}/models", json={"name": "churn", "type": "sklearn"})
    version = log_version(cp, api, model["id"])
    wait_until(lambda: cp.mlflow_servers() == [], timeout=30, what="the idle tracking server to stop")
    starts = _starts(cp)
    status, endpoint = api.post(f"/models/{model['id']}/versions/{version['id']}/endpoint",
                                json={"environment_name": "local"})
    assert status == 201, endpoint
    path = f"/models/{model['id']}/versions/{version['id']}/endpoint/{endpoint['id']}"
    running = wait_until(lambda: (lambda e: e if e["status"] in ("running", "failed") else None)(api.get(path)[1]),
                         timeout=120, what="the endpoint to run")
    assert running["status"] == "running", running.get("message")
    # MLflow 3 keeps the model beside the run, not in it: found on disk, not by asking the server.
    assert _starts(cp) == starts
    api.delete(path)


def _starts(cp) -> int:
    """How many times the tracking server started: each start writes its "ready" line."""
    log = cp.home / "data" / "merlin" / "mlflow" / "run" / "mlflow-server.log"
    return log.read_text().count("MLflow tracking server ready")
