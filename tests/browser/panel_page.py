"""Finding the Merlin panel's parts in a JupyterLab page, shared by the browser tests."""
from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

DIALOG = ".jp-Dialog"
ACCEPT = ".jp-Dialog .jp-Dialog-button.jp-mod-accept"


def open_panel(page: Page) -> None:
    tab = page.locator(".jp-SideBar [data-id='merlin-panel']")
    if tab.get_attribute("aria-selected") != "true":
        tab.click()
    expect(page.locator("#merlin-panel")).to_be_visible()


def row(page: Page, kind: str, text: str = ""):
    return page.locator(f"#merlin-panel [role=treeitem][data-kind={kind}]", has_text=text)


def expand(item) -> None:
    # Only rows with children have aria-expanded (a version once it has an endpoint).
    expect(item).to_have_attribute("aria-expanded", re.compile("true|false"))
    if item.get_attribute("aria-expanded") != "true":
        item.locator(".jp-MerlinTree-caret").click()
    expect(item).to_have_attribute("aria-expanded", "true")


def endpoint_row(page: Page, endpoint_id: str):
    return page.locator(f"#merlin-panel [role=treeitem][data-key='e:{endpoint_id}']")


def row_button(item, name: str):
    return item.get_by_role("button", name=re.compile(f"^{re.escape(name)}"))


def badge(item):
    return item.locator(".jp-MerlinBadge")


def drawn_pixels(chart: Locator) -> int:
    """How many pixels a chart's canvas has drawn: a blank chart has none."""
    return chart.locator("canvas").evaluate(
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; } return n; }")
