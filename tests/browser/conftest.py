"""Browser tests: a real ``jupyter lab`` with the extension, driven in Debian's Chromium.

Playwright's own browser downloads are not used: the Chromium that ``make test`` installs
(``make system-deps``) is launched through ``executable_path``.
"""
from __future__ import annotations

import json
import pathlib
import re
import shutil
import threading
from typing import Iterator

import httpx
import pytest

from tests.conftest import ControlPlaneProcess, _stop_model_servers
from tests.playwright_kit import browser, jp_asyncio_loop, jp_server_cleanup  # noqa: F401 - fixtures

HERE = pathlib.Path(__file__).resolve().parent
# A copy of each run's pictures where people look for them (git-ignored).
SCREENSHOTS = HERE / "screenshots"
LABEXTENSION = HERE.parents[1] / "merlin_jupyter" / "labextension" / "package.json"


# Module scope, not session: Playwright's sync API runs an event loop in this thread until it is
# stopped, and every asyncio test collected after this module would find that loop running.
@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[ControlPlaneProcess]:
    """JupyterLab with the Merlin extension, on a fresh data dir (so the panel starts empty)."""
    if not LABEXTENSION.exists():
        pytest.fail("The labextension is not built: run `make labextension` first.")
    home = tmp_path_factory.mktemp("lab-home")
    # No news prompt or update check: they would cover the panel in the screenshots.
    labconfig = home / "config" / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    # expose_app_in_browser: window.jupyterapp, to run JupyterLab's own commands (the theme).
    cp = ControlPlaneProcess(home, app="lab",
                             extra_args=["--LabApp.news_url=None", "--MerlinApp.metrics_interval=1",
                                         "--LabApp.expose_app_in_browser=True",
                                         "--LabApp.check_for_updates_class="
                                         "jupyterlab.handlers.announcements.NeverCheckForUpdate"])
    cp.start()
    # MLflow creates its tables on first use (~20 s here) and takes seconds to import: let both
    # overlap JupyterLab's page load instead of the first test that logs a version.
    warm = threading.Thread(target=_warm_mlflow, args=(cp,), daemon=True)
    warm.start()
    yield cp
    cp.stop()
    # Beside the pictures, for whoever looks into a failure.
    SCREENSHOTS.mkdir(exist_ok=True)
    shutil.copy(cp.log_path, SCREENSHOTS / "lab.log")
    _stop_model_servers(cp.home)


def _warm_mlflow(cp: ControlPlaneProcess) -> None:
    # This process logs versions with MLflow and scikit-learn: import them meanwhile too.
    import mlflow.sklearn  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    try:
        httpx.get(cp.url + "merlin/mlflow/api/2.0/mlflow/experiments/search?max_results=1",
                  headers=cp.headers, timeout=120)
    except httpx.HTTPError:
        pass  # the test that logs a version will say what is wrong


@pytest.fixture(scope="module")
def page(browser, lab):
    """One JupyterLab page for the module's tests: loading JupyterLab is the slow part."""
    context = browser.new_context(viewport={"width": 1280, "height": 800},
                                  permissions=["clipboard-read", "clipboard-write"])
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(f"{lab.url}lab?token={lab.token}")
    page.locator("#jp-main-dock-panel").wait_for()
    page.locator(".jp-SideBar [data-id='merlin-panel']").wait_for()
    yield page
    context.close()


class Screenshots:
    """Numbered pictures of each step, in the test's output dir and in tests/browser/screenshots."""

    def __init__(self, out: pathlib.Path):
        self.out = out
        self.count = 0
        SCREENSHOTS.mkdir(exist_ok=True)

    def __call__(self, page, name: str) -> pathlib.Path:
        self.count += 1
        slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
        path = self.out / f"{self.count:02d}-{slug}.png"
        page.screenshot(path=str(path))
        shutil.copy(path, SCREENSHOTS / path.name)
        return path


@pytest.fixture(scope="module")
def shot(tmp_path_factory) -> Screenshots:
    return Screenshots(tmp_path_factory.mktemp("screenshots"))
