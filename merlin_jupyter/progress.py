"""Feedback while long work runs: one updating line in a notebook, plain lines elsewhere."""
from __future__ import annotations

import html
import sys
from typing import Any

COLORS = {"pending": "#b58900", "running": "#2e7d32", "serving": "#1565c0", "failed": "#c62828"}


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython

        shell = get_ipython()
        return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"
    except ImportError:
        return False


class Progress:
    """Shows ``title: state (elapsed) message``; updates in place in a notebook."""

    def __init__(self, title: str):
        self.title = title
        self._handle: Any = None
        self._last = ""
        self.notebook = _in_notebook()

    def _html(self, state: str, message: str | None, elapsed: float) -> Any:
        from IPython.display import HTML

        color = COLORS.get(state, "inherit")
        detail = f"<pre style='white-space:pre-wrap;margin:4px 0'>{html.escape(message)}</pre>" if message else ""
        return HTML(f"<div><b>{html.escape(self.title)}</b>: <span style='color:{color};font-weight:bold'>"
                    f"{html.escape(state)}</span> ({elapsed:.1f} s){detail}</div>")

    def update(self, state: str, message: str | None, elapsed: float) -> None:
        if self.notebook:
            from IPython.display import display

            if self._handle is None:
                self._handle = display(self._html(state, message, elapsed), display_id=True)
            else:
                self._handle.update(self._html(state, message, elapsed))
            return
        line = f"{self.title}: {state}" + (f" - {message}" if message else "")
        if line != self._last:
            print(line, file=sys.stderr, flush=True)
            self._last = line

    def done(self, ok: bool, message: str | None, elapsed: float = 0.0) -> None:
        self.update("running" if ok else "failed", message, elapsed)
