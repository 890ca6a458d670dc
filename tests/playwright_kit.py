"""What the browser tests and the team test share to drive Debian's Chromium with Playwright.

Playwright's own browser downloads are not used: the Chromium that ``make test`` installs
(``make system-deps``) is launched through ``executable_path``. Import the fixtures into a
conftest to use them.
"""
from __future__ import annotations

import os
import pathlib
from typing import Iterator

import pytest
from playwright.sync_api import expect

CHROMIUM = os.environ.get("MERLIN_TEST_CHROMIUM", "/usr/bin/chromium")

# Playwright's expect() waits 5 s unless told (the context's default timeout is for actions only):
# too short for a panel that polls a control plane on a loaded CI machine. A passing check still
# returns as soon as it holds.
expect.set_options(timeout=30_000)


# Module scope, not session: Playwright's sync API runs an event loop in this thread until it is
# stopped, and every asyncio test collected after the module would find that loop running.
@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not pathlib.Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not at {CHROMIUM}: run `make system-deps` "
                    "(apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start. The rest keep
        # Chromium off the network (no QUIC, updates, sync or first-run pages) and quick to start.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
        ])
        yield chromium
        chromium.close()


# pytest-jupyter's autouse fixtures make and close an event loop around every test, for its
# in-process servers. These tests use none, and Playwright's sync API already runs its own loop
# in this thread, which that teardown refuses to close: so they are no-ops here.
@pytest.fixture
def jp_asyncio_loop():
    yield None


@pytest.fixture
def jp_server_cleanup():
    yield
