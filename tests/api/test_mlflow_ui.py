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
