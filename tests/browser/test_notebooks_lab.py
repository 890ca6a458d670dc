"""The onboarding notebooks opened in a real JupyterLab in Chromium, run with *Run All Cells*,
with JupyterLab's debugger off and on (its bug button, as people turn it on when something looks
wrong). nbclient never turns a debugger on, so tests/notebooks cannot see what it changes.

Every cell must finish without an error, the deploy widget must reach running, and once the
kernel is shut down no process it started (the pre-deploy checker, its children) may be left.
"""
from __future__ import annotations

import pathlib
import shutil
import time

import psutil
import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[2] / "notebooks"
# The one a new user opens first; tests/notebooks runs all four (without a debugger) with nbclient.
RUN = ["01-quickstart"]
# Above the checker's own 120 s, so a hanging check shows as its message, not as a test timeout.
RUN_ALL_TIMEOUT_MS = 240_000


@pytest.fixture(scope="module")
def workdir(lab) -> pathlib.Path:
    target = lab.home / "notebooks"
    target.mkdir(exist_ok=True)
    return target


@pytest.fixture
def lab_page(browser, lab, workdir):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    yield page
    context.close()


def kernel_processes(lab) -> dict[str, psutil.Process]:
    """The kernels JupyterLab runs, by kernel id (from ``kernel-<id>.json`` on the command line)."""
    found = {}
    for child in psutil.Process(lab.proc.pid).children():
        try:
            cmdline = " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            continue
        if "ipykernel" in cmdline and "kernel-" in cmdline:
            found[cmdline.split("kernel-", 1)[1].split(".json", 1)[0]] = child
    return found


def open_notebook(page: Page, lab, name: str) -> None:
    """Open (in a tab of its own, so each test gets a new kernel) a copy of the notebook."""
    page.goto(f"{lab.url}lab/tree/notebooks/{name}.ipynb?token={lab.token}&reset")
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator(".jp-Cell").first.wait_for()
    # The kernel is started and idle (the toolbar's status says so).
    expect(page.locator(".jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle", timeout=60_000)


def listening(kernel: psutil.Process) -> int:
    return sum(c.status == psutil.CONN_LISTEN for c in kernel.net_connections(kind="tcp"))


def turn_on_the_debugger(page: Page, kernel: psutil.Process) -> None:
    """Its bug button, then wait until debugpy listens in the kernel (JupyterLab starts it with an
    execute request of its own, which would otherwise queue behind Run All's cells)."""
    sockets = listening(kernel)
    button = page.locator(".jp-NotebookPanel-toolbar .jp-DebuggerBugButton")
    # enabled once the kernel said (kernel_info) that it can debug
    expect(button).to_have_attribute("aria-disabled", "false", timeout=60_000)
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    deadline = time.monotonic() + 30
    while listening(kernel) <= sockets:
        assert time.monotonic() < deadline, "debugpy did not start in the kernel"
        time.sleep(0.1)
    time.sleep(1)  # JupyterLab attaches once debugpy listens


def run_all_and_wait(page: Page) -> list[dict]:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell")
    count = cells.count()
    # Run All queues every cell at once ([*]); the last one gets its number when all are done.
    expect(cells.nth(count - 1).locator(".jp-InputPrompt")).to_have_text(
        _numbered(), timeout=RUN_ALL_TIMEOUT_MS)
    return page.evaluate("""() => {
      const panel = window.jupyterapp.shell.currentWidget;
      return panel.content.model.sharedModel.cells
        .filter(c => c.cell_type === 'code')
        .map(c => ({count: c.execution_count, errors: c.outputs.filter(o => o.output_type === 'error')
                      .map(o => o.ename + ': ' + o.evalue),
                    source: c.source.slice(0, 60)}));
    }""")


def _numbered():
    import re

    return re.compile(r"\[\d+\]:")


def shut_down_kernel(lab, kernel_id: str) -> None:
    """As closing the notebook with "Shut Down Kernel" does: its session ends, and the kernel."""
    import httpx

    sessions = httpx.get(f"{lab.url}api/sessions", headers=lab.headers, timeout=30).json()
    session = next(s for s in sessions if s["kernel"]["id"] == kernel_id)
    answer = httpx.delete(f"{lab.url}api/sessions/{session['id']}", headers=lab.headers, timeout=60)
    assert answer.status_code == 204, answer.text


@pytest.mark.timeout(420)  # a traced kernel (debugger on) runs library code several times slower
@pytest.mark.parametrize("debugger", [False, True], ids=["debugger-off", "debugger-on"])
@pytest.mark.parametrize("name", RUN)
def test_run_all_cells_in_jupyterlab(lab, workdir, lab_page: Page, shot, name: str, debugger: bool):
    page = lab_page
    before = set(kernel_processes(lab))
    copy = f"{name}-debugger-{'on' if debugger else 'off'}"
    shutil.copy(NOTEBOOKS / f"{name}.ipynb", workdir / f"{copy}.ipynb")
    open_notebook(page, lab, copy)
    deadline = time.monotonic() + 60
    while not (kernels := {k: p for k, p in kernel_processes(lab).items() if k not in before}):
        assert time.monotonic() < deadline, "no kernel started for the notebook"
        time.sleep(0.2)
    assert len(kernels) == 1, kernels
    kernel_id, kernel = next(iter(kernels.items()))
    if debugger:
        turn_on_the_debugger(page, kernel)
    started = time.monotonic()
    try:
        cells = run_all_and_wait(page)
    finally:
        took = time.monotonic() - started
        shot(page, f"{name} {'debugger on' if debugger else 'debugger off'} after run all")
    assert all(c["count"] for c in cells), cells
    assert [c for c in cells if c["errors"]] == [], cells
    if name == "01-quickstart":
        # The deploy cell's display, as a person sees it: the steps, ending in running, and a URL.
        deploy = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell",
                              has_text="endpoint = %merlin deploy")
        output = deploy.locator(".jp-OutputArea")
        expect(output).to_contain_text("running")
        expect(output).to_contain_text("URL")
        deploy.scroll_into_view_if_needed()
        shot(page, f"{name} deploy {'debugger on' if debugger else 'debugger off'}")
        print(f"{name} debugger={'on' if debugger else 'off'}: deploy display: "
              + output.inner_text().splitlines()[0])
    print(f"{name} debugger={'on' if debugger else 'off'}: Run All took {took:.1f} s")

    helpers = [p for p in kernel.children(recursive=True)]
    shut_down_kernel(lab, kernel_id)
    kernel.wait(30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE
                                              for p in helpers):
        time.sleep(0.1)
    left = [f"{p.pid} {' '.join(p.cmdline())[:120]}" for p in helpers
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], f"processes started by the kernel outlived it: {left}"
