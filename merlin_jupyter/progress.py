"""Feedback while a deploy runs: a live widget in a notebook, plain lines elsewhere.

The widget lists each state the endpoint went through with the time it was reached; on success
it shows the URL with a curl command and a Python snippet to copy, on failure the reason and the
model server's last log lines (no traceback).
"""
from __future__ import annotations

import html
import sys
from typing import Any

COLORS = {"checked": "#2e7d32", "pending": "#b58900", "running": "#2e7d32", "serving": "#1565c0", "failed": "#c62828"}
PRE = "white-space:pre-wrap;margin:4px 0;padding:4px;border:1px solid var(--jp-border-color2,#ddd)"


def in_widget_frontend() -> bool:
    """True in a Jupyter kernel with ipywidgets installed (JupyterLab, Notebook, VS Code)."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None or shell.__class__.__name__ != "ZMQInteractiveShell":
            return False
        import ipywidgets  # noqa: F401

        return True
    except ImportError:
        return False


def _state(state: str) -> str:
    color = COLORS.get(state, "inherit")
    return f"<span style='color:{color};font-weight:bold'>{html.escape(state)}</span>"


class DeployProgress:
    """``update(state, message, elapsed)`` while waiting, then ``succeeded`` or ``failed``."""

    def __init__(self, title: str, widget: bool | None = None):
        self.title = title
        self.steps: list[tuple[str, str, float]] = []  # (state, message, elapsed) as they changed
        self.widget = in_widget_frontend() if widget is None else widget
        self._view: Any = None
        self._handle: Any = None
        self._last_line = ""
        self.extra_text: list[str] = []

    # -- what the SDK calls ------------------------------------------------------------------
    def update(self, state: str, message: str | None, elapsed: float) -> None:
        if not self.steps or self.steps[-1][:2] != (state, message or ""):
            self.steps.append((state, message or "", elapsed))
            self._line(f"{self.title}: {state}" + (f" - {message}" if message else "") + f" ({elapsed:.1f} s)")
        self._render(elapsed)

    def succeeded(self, state: str, url: str, example: Any, elapsed: float,
                  unenforced: list[str] | None = None) -> None:
        """``unenforced``: settings the environment does not enforce, shown so none is silent."""
        from .resources import snippets

        self.steps.append((state, url, elapsed))
        curl, python = snippets(url, example)
        notes = [f"Not enforced here: {note}" for note in unenforced or []]
        self._line(f"{self.title}: {state} at {url} ({elapsed:.1f} s)\n{curl}"
                   + "".join(f"\n{note}" for note in notes))
        self.extra_text = ["", curl, "", python] + (["", *notes] if notes else [])
        shown = "".join(f"<div>{html.escape(note)}</div>" for note in notes)
        self._finish(elapsed, f"<b>URL</b> <code>{html.escape(url)}</code>"
                              f"<div>curl</div><pre style='{PRE}'>{html.escape(curl)}</pre>"
                              f"<div>Python</div><pre style='{PRE}'>{html.escape(python)}</pre>{shown}")

    def failed(self, reason: str, log_lines: list[str], elapsed: float) -> None:
        self.steps.append(("failed", reason, elapsed))
        self._line(f"{self.title}: failed ({elapsed:.1f} s)")
        detail = f"<b>Why</b>: {html.escape(reason)}"
        if log_lines:
            text = html.escape("\n".join(log_lines))
            detail += f"<div>Last log lines of the model server</div><pre style='{PRE}'>{text}</pre>"
        self.extra_text = ["", "Last log lines of the model server:", *log_lines]
        self._finish(elapsed, detail)

    # -- rendering ---------------------------------------------------------------------------
    def html(self, elapsed: float, detail: str = "") -> str:
        rows = "".join(
            f"<tr><td style='text-align:right'>{at:.1f} s</td><td>{_state(state)}</td>"
            f"<td style='text-align:left'>{html.escape(message)}</td></tr>"
            for state, message, at in self.steps
        )
        return (f"<div><b>{html.escape(self.title)}</b> ({elapsed:.1f} s)"
                f"<table>{rows}</table>{detail}</div>")

    def _render(self, elapsed: float, detail: str = "") -> None:
        if not self.widget:
            return
        import ipywidgets
        from IPython.display import display

        if self._view is None:
            self._view = ipywidgets.HTML()
            self._handle = display(self._view, display_id=True)
        self._view.value = self.html(elapsed, detail)

    def _finish(self, elapsed: float, detail: str) -> None:
        """Replace the live widget by the same content as static HTML with a text version.

        Widget state is not saved in a notebook and has no text form; the final display is, so
        the outcome stays readable after a reload, in nbconvert, and in a headless run.
        """
        self._render(elapsed, detail)
        if self._handle is not None:  # None outside IPython: nothing to replace
            self._handle.update(Summary(self.html(elapsed, detail), self.text()))
            self._view.close()

    def text(self) -> str:
        lines = [self.title] + [f"  {at:5.1f} s  {state:<9} {message}" for state, message, at in self.steps]
        return "\n".join(lines + self.extra_text)

    def _line(self, line: str) -> None:
        if self.widget or line == self._last_line:
            return
        print(line, file=sys.stderr, flush=True)
        self._last_line = line


class Summary:
    """A finished deploy's display: HTML in a notebook, text anywhere else."""

    def __init__(self, html_text: str, text: str):
        self._html, self._text = html_text, text

    def _repr_html_(self) -> str:
        return self._html

    def __repr__(self) -> str:
        return self._text
